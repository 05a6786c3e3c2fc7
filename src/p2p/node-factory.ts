import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { withBitswap } from '@helia/bitswap'
import { type HeliaWithLibp2p, withLibp2pLight } from '@helia/libp2p'
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { type CircuitRelayService, circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { type KadDHT, kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { MemoryBlockstore } from 'blockstore-core'
import type { FsBlockstore } from 'blockstore-fs'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { createHeliaLight } from 'helia'
import type { Blockstore } from 'interface-blockstore'
import type { Datastore } from 'interface-datastore'
import { mendBitswapWants } from './bitswap-wants.ts'
import { withImportedSigningKey } from './ed25519-signer.ts'
import { FsBlockstoreWritingOnce } from './fs-blockstore.ts'
import { type ConnectionConfirmations, connectionConfirmations } from './connection-confirmations.ts'
import { ListenPorts } from './listen-ports.ts'
import { type OwnAddressComponents, type OwnAddresses, ownAddresses } from './own-addresses.ts'
import { type TlsCredentials, watchTlsCredentials } from './tls-files.ts'
import {
  type CertificateOptions,
  loadOrCreateWebRTCCertificate,
  scheduleWebRTCCertificateRenewal,
  type WebRTCCertificate,
} from './webrtc-certificate.ts'
import { closeAbandonedWebSockets } from './ws-dial-abort.ts'

export type SwitchboardServices = {
  identify: ReturnType<ReturnType<typeof identify>>
  identifyPush: ReturnType<ReturnType<typeof identifyPush>>
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  reconnectOff: ReconnectOff
  addresses: OwnAddresses
  confirmations: ConnectionConfirmations
  dcutr: unknown
  /** The circuit relay server: on the persistent node only (session peers never relay). */
  relay?: CircuitRelayService
  /** Reachability checks by other peers dialling us back: on the persistent node only. */
  autoNAT?: unknown
}

export type SwitchboardLibp2p = Libp2p<SwitchboardServices>
export type SwitchboardHelia = HeliaWithLibp2p<SwitchboardServices>

export interface NodeOptions {
  privateKey: PrivateKey
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  dhtProtocol: string
  /** Keep blocks and the datastore under this directory; in memory when absent (session peers). */
  storageDir?: string
  /**
   * Use this blockstore instead of making one (session peers share the daemon's persistent one, so
   * a restored directory finds its blocks); its owner opens and closes it.
   */
  blockstore?: Blockstore
  /** Loopback and private addresses are what tests and LANs use; keep them in the DHT. */
  allowPrivateAddresses: boolean
  /** Asked on every inbound and outbound connection: true refuses the peer (bans, unknown-peer policy). */
  denyPeer?: (peerId: PeerId) => boolean
  /** Above our own watermarks, so libp2p's pruner never fires before ours. */
  maxConnections?: number
  /** A dial's whole budget (ms; libp2p's default 10 s). libp2p cuts no single address shorter: our dials do, knowing when an address answered. */
  dialTimeoutMs?: number
  /** Run a circuit relay server with these limits (the persistent node, unless the config turns it off). */
  relay?: RelayServerLimits
  /** Warnings about the node's own files (a corrupt certificate moved aside). */
  log?: (msg: string) => void
  /** Advertise exactly these addresses (libp2p `addresses.announce`) instead of the listeners' own. */
  announce?: string[]
  /** Certificate and key of the `/tls/ws` listener (node:https options); their files, when named, are watched for a renewal. */
  tls?: TlsCredentials
  /** How often the TLS files are checked for a change (ms; default 60 s). */
  tlsWatchIntervalMs?: number
  /** Lifespan and renewal window of a persistent node's WebRTC-direct certificate (defaults: 1 year, 30 days). */
  webrtcCertificate?: Pick<CertificateOptions, 'lifespanMs' | 'renewBeforeMs'>
}

/** What one relay server grants (config relay*; RelayLimits in the relay machine's terms). */
export interface RelayServerLimits {
  maxReservations: number
  reservationTtlSeconds: number
  durationLimitSeconds: number
  dataLimitBytes: number
}

export interface NodeHandle {
  helia: SwitchboardHelia
  libp2p: SwitchboardLibp2p
  /** The raw stores under Helia (no network fallback). */
  blockstore: Blockstore
  datastore: Datastore
  stop(): Promise<void>
}

/** How long identify may take on a new connection when no dial budget is given (libp2p's default is 5 s). */
export const IDENTIFY_TIMEOUT_MS = 10_000

/** Inbound connections in their handshake at once, at most (libp2p's default is 10). */
export const MAX_INCOMING_PENDING_CONNECTIONS = 64

/** The least time a connection's heartbeat ping is given before libp2p aborts the connection. */
export const HEARTBEAT_MIN_TIMEOUT_MS = 20_000

/** Build and start one libp2p + Helia node with Switchboard's transports and services. */
export async function createNode(opts: NodeOptions, signal?: AbortSignal): Promise<NodeHandle> {
  let datastore: Datastore
  let blockstore: Blockstore
  let level: LevelDatastore | undefined
  let fsBlocks: FsBlockstore | undefined
  // a persistent node keeps its WebRTC-direct certificate, so the certhash in its addresses survives restarts
  let certificate: WebRTCCertificate | undefined
  let listenPorts: ListenPorts | undefined
  let webrtcTransport: unknown
  let listen = opts.listen
  if (opts.storageDir !== undefined) {
    await mkdir(opts.storageDir, { recursive: true })
    const storageDir = opts.storageDir
    level = new LevelDatastore(join(storageDir, 'datastore'))
    // one write per block at a time: blockstore-fs stalls ~1 s on a second write at once (fs-blockstore.ts)
    fsBlocks = new FsBlockstoreWritingOnce(join(storageDir, 'blocks'))
    // independent of each other, so side by side: they are on the way to the node's first dial
    const [cert, ports, ...opened] = await Promise.allSettled([
      loadOrCreateWebRTCCertificate(join(storageDir, 'webrtc-direct-certificate.json'), { log: opts.log, ...opts.webrtcCertificate }),
      // and asks for the ports its listeners got last time, so its addresses survive restarts
      ListenPorts.load(join(storageDir, 'listen-ports.json'), opts.log).then(async (p) => ({ p, listen: await p.choose(opts.listen) })),
      level.open(),
      fsBlocks.open(),
    ])
    const failed = [cert, ports, ...opened].find((r) => r.status === 'rejected')
    if (failed !== undefined || cert.status !== 'fulfilled' || ports.status !== 'fulfilled') {
      // an opened LevelDB stays locked: closed, or the node could never start again
      await level.close().catch(() => {})
      await fsBlocks.close().catch(() => {})
      throw (failed as PromiseRejectedResult | undefined)?.reason
    }
    certificate = cert.value
    listenPorts = ports.value.p
    listen = ports.value.listen
    datastore = level
    blockstore = fsBlocks
  } else {
    datastore = new MemoryDatastore()
    blockstore = opts.blockstore ?? new MemoryBlockstore()
  }
  const closeStores = async () => {
    await level?.close().catch(() => {})
    await fsBlocks?.close().catch(() => {})
  }

  const deny = opts.denyPeer
  const gater: ConnectionGater | undefined =
    deny === undefined
      ? undefined
      : {
          denyDialPeer: (peerId) => deny(peerId),
          denyInboundEncryptedConnection: (peerId) => deny(peerId),
          denyOutboundEncryptedConnection: (peerId) => deny(peerId),
        }
  // libp2p's default gater refuses private addresses; we decide that ourselves.
  const connectionGater: ConnectionGater = {
    denyDialMultiaddr: async () => false,
    ...gater,
  }

  const helia = withLibp2pLight(createHeliaLight({ datastore, blockstore, start: false } as never), {
    // signs with a key imported once, not once per signature (GossipSub signs every publish)
    privateKey: withImportedSigningKey(opts.privateKey),
    datastore,
    addresses: { listen, ...(opts.announce !== undefined && opts.announce.length > 0 ? { announce: opts.announce } : {}) },
    transports: [
      tcp(),
      // with a certificate and key, a `/tls/ws` listen address is served over https
      mapTransport(webSockets(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}), closeAbandonedWebSockets),
      keepTransport(webRTCDirect({ rtcConfiguration: { iceServers: [] }, ...(certificate ? { certificate } : {}) }), (t) => {
        webrtcTransport = t
      }),
      // reach peers (and be reached) through a relay; a `/p2p-circuit` listen address asks for reservations
      circuitRelayTransport(),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater,
    // our peer actors own redialling wanted peers; libp2p's reconnect queue is switched off below
    connectionManager: {
      maxConnections: opts.maxConnections ?? 1000,
      // libp2p refuses an inbound connection while 10 others are still in their handshake: when a
      // partition heals every peer of a node dials it within a second or two, and on a busy host the
      // handshakes take seconds, so the refused ones started over (172 in one twenty-daemon heal)
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS,
      reconnectRetries: 0,
      ...(opts.dialTimeoutMs !== undefined ? { dialTimeout: opts.dialTimeoutMs, addressDialTimeout: opts.dialTimeoutMs } : {}),
    },
    // libp2p aborts a connection whose heartbeat ping fails, after 5 s at least: on a busy host two
    // daemons lost theirs every few seconds (bench/profiles/README.md). A silent peer (a cut link)
    // is still found within 30 s; TCP resets end most dead connections long before that.
    connectionMonitor: { pingTimeout: { minTimeout: HEARTBEAT_MIN_TIMEOUT_MS } },
    peerDiscovery: [...(opts.bootstrap.length > 0 ? [bootstrap({ list: opts.bootstrap })] : []), ...(opts.mdns ? [mdns()] : [])],
    services: {
      // a busy host answers identify late: cut at libp2p's 5 s, hundreds were lost in one twenty-daemon
      // heal (the peer's record, addresses and protocols not refreshed); the dial budget suits it
      identify: identify({ timeout: opts.dialTimeoutMs ?? IDENTIFY_TIMEOUT_MS }),
      identifyPush: identifyPush(),
      // a heartbeat still running when the next starts is a second outbound ping stream (default limit 1)
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 4 }),
      dht: kadDHT({
        protocol: opts.dhtProtocol,
        clientMode: false,
        // a public deployment must not hand out (or route to) private addresses
        peerInfoMapper: opts.allowPrivateAddresses ? passthroughMapper : removePrivateAddressesMapper,
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // no IP colocation penalty: browsers reach the hub from one address (a household's NAT, this
        // machine), and a closed tab's score is kept an hour, so by default the 11th tab in an hour
        // scored below 0 and was left out of the mesh (tabs stopped finding each other)
        scoreParams: { IPColocationFactorWeight: 0 },
      }),
      // built before libp2p starts, so it can keep the reconnect queue from ever starting
      reconnectOff: (components: unknown) => disableReconnectQueue(components),
      // cached: expanding the 0.0.0.0 listeners reads every interface (see own-addresses.ts)
      addresses: (components: OwnAddressComponents) => ownAddresses(components),
      // which connections the remote accepted (identify on them): a refused one looks open for a moment
      confirmations: connectionConfirmations,
      // upgrade a relayed connection to a direct one where both sides can (hole punching)
      dcutr: dcutr(),
      ...(opts.relay
        ? {
            relay: circuitRelayServer({
              reservations: {
                maxReservations: opts.relay.maxReservations,
                reservationTtl: opts.relay.reservationTtlSeconds * 1000,
                defaultDurationLimit: opts.relay.durationLimitSeconds * 1000,
                defaultDataLimit: BigInt(opts.relay.dataLimitBytes),
                applyDefaultLimit: true,
              },
            }),
            autoNAT: autoNAT(),
          }
        : {}),
    },
  }) as unknown as SwitchboardHelia
  // bitswap becomes Helia's block broker on the same libp2p node
  const withBlocks = withBitswap(helia as never) as unknown as SwitchboardHelia

  try {
    signal?.throwIfAborted()
    await withBlocks.start()
    signal?.throwIfAborted()
  } catch (err) {
    await withBlocks.stop().catch(() => {})
    await closeStores()
    throw err
  }
  mendBitswapWants(withBlocks, opts.log)
  const stopRenewal = await afterStart(withBlocks.libp2p, opts, { listenPorts, certificate, webrtcTransport })
  releaseReservationsOnDisconnect(withBlocks.libp2p)

  return {
    helia: withBlocks,
    libp2p: withBlocks.libp2p,
    blockstore,
    datastore,
    async stop() {
      stopRenewal()
      try {
        await withBlocks.stop()
      } finally {
        // closed whatever happened above, or LevelDB stays locked and the node can never start again
        await closeStores()
      }
    },
  }
}

/** A libp2p transport factory whose transport `fn` gets (and returns) as it is built. */
function mapTransport<C, T>(factory: (components: C) => T, fn: (transport: T) => T): (components: C) => T {
  return (components) => fn(factory(components))
}

/** Let `keep` hold the transport a libp2p transport factory builds (to reach it once the node runs). */
function keepTransport<C, T>(factory: (components: C) => T, keep: (transport: T) => void): (components: C) => T {
  return (components) => {
    const transport = factory(components)
    keep(transport)
    return transport
  }
}

/** The node's own listener addresses (not the announced ones), as strings without the peer id. */
function transportAddrs(libp2p: SwitchboardLibp2p): string[] {
  const tm = (libp2p as unknown as { components?: { transportManager?: { getAddrs(): unknown[] } } }).components?.transportManager
  try {
    return (tm?.getAddrs() ?? []).map(String)
  } catch {
    return []
  }
}

/**
 * Put a renewed certificate into @libp2p/webrtc's WebRTC-direct transport while it runs. The
 * transport has no API for a certificate given in its init, but it renews its own certificate this
 * way (transport.js): it sets `certificate` and dispatches `certificate:renew` on its `emitter`,
 * whose listeners take the new certificate for every later connection and dispatch `listening`, so
 * libp2p's address manager updates our peer record (new certhash) and identify push tells
 * connected peers. Established connections are not touched. False when those fields are missing
 * (another @libp2p/webrtc version): test/p2p/webrtc-renewal.test.ts pins that they are there.
 */
export function swapWebRTCCertificate(transport: unknown, cert: WebRTCCertificate): boolean {
  const t = transport as
    | {
        certificate?: unknown
        certInit?: { certificate?: unknown }
        emitter?: { safeDispatchEvent?(type: string, init: unknown): unknown }
      }
    | undefined
  if (t === undefined || typeof t.emitter?.safeDispatchEvent !== 'function' || t.certInit === undefined) return false
  t.certificate = cert
  // a restart of the transport (libp2p stop/start) starts from the renewed one too
  t.certInit.certificate = cert
  t.emitter.safeDispatchEvent('certificate:renew', { detail: cert })
  return true
}

/**
 * What a persistent node does once it runs: remember the ports its listeners got, and keep its
 * WebRTC-direct certificate renewed while it runs. Returns what stops the renewal.
 */
async function afterStart(
  libp2p: SwitchboardLibp2p,
  opts: NodeOptions,
  state: { listenPorts?: ListenPorts; certificate?: WebRTCCertificate; webrtcTransport?: unknown },
): Promise<() => void> {
  const log = opts.log ?? (() => {})
  if (state.listenPorts) {
    await state.listenPorts.remember(opts.listen, transportAddrs(libp2p)).catch((err: Error) => {
      log(`could not save the listen ports (the next start may get other ports): ${err.message}`)
    })
  }
  const stopTls = opts.tls
    ? watchTlsCredentials(opts.tls, (creds) => swapTlsCertificate(libp2p, creds), { log, intervalMs: opts.tlsWatchIntervalMs })
    : () => {}
  if (opts.storageDir === undefined || state.certificate === undefined) return stopTls
  const path = join(opts.storageDir, 'webrtc-direct-certificate.json')
  const renewal = scheduleWebRTCCertificateRenewal(state.certificate, {
    path,
    log,
    ...opts.webrtcCertificate,
    apply: (cert) => {
      if (!swapWebRTCCertificate(state.webrtcTransport, cert)) {
        throw new Error('@libp2p/webrtc has no certificate to swap at runtime; the renewed certificate is used from the next start')
      }
    },
  })
  return () => {
    stopTls()
    renewal.stop()
  }
}

interface SecureWebSocketListener {
  https?: unknown
  onCertificateRenew?(event: { detail: { cert: string; key: string } }): void
}

/**
 * Serve a renewed certificate on the running `/tls/ws` listeners. @libp2p/websockets renews an
 * auto-tls certificate with its listener's `onCertificateRenew` (a new https server takes the next
 * connections; open ones stay); that is called here on the listeners that already serve https only,
 * since the `certificate:renew` event would also turn every plain `/ws` listener into a TLS one.
 * test/p2p/tls-ws.test.ts pins it.
 */
function swapTlsCertificate(libp2p: SwitchboardLibp2p, creds: TlsCredentials): void {
  const tm = (libp2p as unknown as { components?: { transportManager?: { getListeners(): unknown[] } } }).components?.transportManager
  for (const l of (tm?.getListeners() ?? []) as SecureWebSocketListener[]) {
    if (l.https != null && typeof l.onCertificateRenew === 'function')
      l.onCertificateRenew({ detail: { cert: creds.cert, key: creds.key } })
  }
}

/**
 * @libp2p/circuit-relay-v2 (4.2.13) keeps a reservation until its TTL ends even when its peer has
 * gone, so a browser tab that closed holds a slot for an hour and the 33rd tab within the hour gets
 * no relay address. A peer that disconnects can use its reservation no more: free the slot at once.
 */
function releaseReservationsOnDisconnect(libp2p: SwitchboardLibp2p): void {
  const relay = libp2p.services.relay
  if (!relay) return
  libp2p.addEventListener('peer:disconnect', (event) => {
    relay.reservations.delete(event.detail)
  })
}

export type { NodeAddress, OwnAddresses } from './own-addresses.ts'

interface ReconnectQueueLike {
  started: boolean
  start(): void
  afterStart(): Promise<void>
}

/** What the `reconnectOff` service says: whether it found libp2p's reconnect queue and kept it off. */
export interface ReconnectOff {
  readonly disabled: boolean
}

function reconnectQueueOf(components: unknown): ReconnectQueueLike | undefined {
  try {
    return (components as { connectionManager?: { reconnectQueue?: ReconnectQueueLike } }).connectionManager?.reconnectQueue
  } catch {
    // libp2p's components proxy throws for a component that is not set
    return undefined
  }
}

/**
 * Turn off libp2p's reconnect queue before the node starts: the peer actor is the one owner of
 * redialling wanted peers (capped exponential backoff with jitter). `reconnectRetries: 0` alone is
 * not enough in libp2p 3.x (connection-manager/reconnect-queue.js): on every disconnect of a
 * KEEP_ALIVE peer it still makes p-retry's first attempt, after start it dials every KEEP_ALIVE peer
 * once, and when an attempt fails it strips the tag. The queue does nothing while `started` is
 * false (maybeReconnect returns at once), so it is never started. test/p2p/reconnect-off.test.ts
 * pins that it is found and stays off.
 */
function disableReconnectQueue(components: unknown): ReconnectOff {
  const queue = reconnectQueueOf(components)
  if (!queue || typeof queue.start !== 'function' || typeof queue.afterStart !== 'function') return { disabled: false }
  queue.start = () => {}
  queue.afterStart = async () => {}
  queue.started = false
  return { disabled: true }
}

/** Whether libp2p's reconnect queue would act on a disconnect (false for every node we build). */
export function reconnectQueueStarted(libp2p: SwitchboardLibp2p): boolean | undefined {
  return reconnectQueueOf((libp2p as unknown as { components?: unknown }).components)?.started
}
