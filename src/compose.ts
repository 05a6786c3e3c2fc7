/**
 * The composition root: the one module that knows every concrete class. It loads the daemon's
 * stores, builds each part over the narrow slice of the others it needs, starts the actor system,
 * and hands back a typed bundle (Core) for the server, tests and benchmarks. Nothing else
 * constructs these parts.
 */
import { join } from 'node:path'
import { waitFor } from 'xstate'
import { ActivityLog } from './actors/activity-log.ts'
import { startAddressBookUpkeep } from './actors/address-book-upkeep.ts'
import { DhtQueue } from './actors/dht/dht-queue.ts'
import { SharedFileStore } from './actors/files/files.ts'
import { LocalNodes } from './actors/node/local-nodes.ts'
import { NodeRuntimes } from './actors/node/node-runtimes.ts'
import { SessionPeers } from './actors/node/session-peers.ts'
import { pairingEffects } from './actors/pairing/pairing.actors.ts'
import { PeerControl } from './actors/peer/peer-control.ts'
import { PeerGate } from './actors/peer/peer-gate.ts'
import { PresenceFeed } from './actors/presence/presence-feed.ts'
import { libp2pMaxConnections } from './actors/protection/watermarks.ts'
import { ActorControl } from './actors/supervisor/actor-control.ts'
import type { ActorRegistry } from './actors/supervisor/actor-registry.ts'
import { startSystem } from './actors/supervisor/system.ts'
import type { Config } from './config.ts'
import { type ActorLookup, actorLookup, type SupervisorRef } from './machines/actor-refs.ts'
import { type NodeServices, nodeServiceFactories } from './node-services.ts'
import { AddressBook } from './p2p/address-book.ts'
import { Reputation } from './p2p/reputation.ts'
import { Metrics } from './server/metrics.ts'
import { VERSION } from './version.ts'
import { nodeListen } from './p2p/listen-ports.ts'
import { loadTlsCredentials } from './p2p/tls-files.ts'

/** The daemon's parts, each with one job; what the server and the tests work with. */
export interface Core {
  config: Config
  version: string
  /** Local nodes and their lifecycle. */
  nodes: LocalNodes<NodeServices>
  /** Session peers for browser apps (`peer`). */
  sessions: SessionPeers
  /** What clients ask of remote peers, done through the peer actors. */
  peers: PeerControl
  /** Who may connect; bans. */
  gate: PeerGate
  /** Client DHT operations through each node's queue. */
  dht: DhtQueue
  /** The daemon's one block store (files.gc). */
  files: SharedFileStore
  /** The actor tree: its root, the client view of every actor, and typed lookups. */
  actors: { supervisor: SupervisorRef; registry: ActorRegistry; lookup: ActorLookup; control: ActorControl }
  /** The daemon-wide stores. */
  stores: { addressBook: AddressBook; reputation: Reputation; activity: ActivityLog }
  presence: PresenceFeed
  metrics: Metrics
  /**
   * Stop every node, then the supervisor. The saves (address book, bans, known peers) run whatever
   * the stops did; a save that fails is logged and makes shutdown reject naming it.
   */
  shutdown(): Promise<void>
}

/** Load the daemon-wide stores and build and start everything but the nodes and HTTP. */
export async function composeCore(config: Config, log: (msg: string) => void = (m) => console.warn(m)): Promise<Core> {
  // binary since issue 15; the JSON book of earlier versions is migrated on the first start
  const addressBook = await AddressBook.load(join(config.dataDir, 'address-book.bin'), {
    migrateFrom: join(config.dataDir, 'address-book.json'),
    allowLoopback: config.allowLoopbackAddresses,
    allowPrivate: config.allowLoopbackAddresses,
    log,
  })
  const reputation = await Reputation.load(join(config.dataDir, 'bans.json'), { log })
  const activity = new ActivityLog()
  const presence = new PresenceFeed()
  const files = new SharedFileStore(
    {
      cacheMaxBytes: config.fileCacheMaxBytes,
      gcIntervalMs: config.fileGcIntervalMs,
      sessionRootRetentionMs: config.sessionRootRetentionMs,
    },
    log,
  )

  // the node services reach the peer actors, which exist only once the system below runs
  let peers: PeerControl | undefined
  let lookup: ActorLookup | undefined
  let nodes: LocalNodes<NodeServices> | undefined
  // who the gate lets in under `unknownPeers: reject` and who may read files under `fileAccess: known`
  const isKnownOrAdded = (alias: string, peerId: string) =>
    runtimes.get(alias)?.knownPeers.has(peerId) === true || peers?.isAdded(alias, peerId) === true
  const factories = nodeServiceFactories({
    config,
    addressBook,
    reputation,
    activity,
    presence,
    sharedFiles: files,
    peers: () => peers as PeerControl,
    isKnown: (alias, peerId) => runtimes.get(alias)?.knownPeers.has(peerId) === true,
    knownAddedOrLocal: (alias, peerId) => isKnownOrAdded(alias, peerId) || nodes?.aliasOfPeerId(peerId) !== undefined,
    nodeRef: (alias) => lookup?.node(alias),
    log,
  })
  const runtimes = new NodeRuntimes<NodeServices>({ addressBook, reputation, activity, dialTimeoutMs: config.dialTimeoutMs }, factories)
  const { supervisor, registry } = startSystem(runtimes, {
    sync: (alias, peerId, opts) => runtimes.services(alias).sync.sync(peerId, opts),
    pairing: pairingEffects({
      service: (alias) => runtimes.services(alias).pairing,
      libp2p: (alias) => runtimes.handle(alias).libp2p,
      peers: () => peers as PeerControl,
      reputation,
    }),
  })
  lookup = actorLookup(supervisor.system)
  peers = new PeerControl(runtimes, lookup, activity, async (alias, peerId) => {
    const sync = runtimes.get(alias)?.services?.sync
    await sync?.dropReplica(peerId)
  })
  const actors = { supervisor, registry, lookup, control: new ActorControl(registry) }

  const gate = new PeerGate({
    reputation,
    unknownPeers: config.unknownPeers,
    bootstrap: config.bootstrap,
    isLocalPeer: (peerId) => nodes?.aliasOfPeerId(peerId) !== undefined,
    isKnownOrAdded,
    inPairing: (alias, peerId) => runtimes.get(alias)?.services?.pairing.admits(peerId) === true,
    hangUpEverywhere: (peerId) => {
      for (const r of runtimes.all()) void r.handle?.libp2p.hangUp(peerId).catch(() => {})
    },
    activity,
    log,
  })
  const relayLimits = config.relay
    ? {
        maxReservations: config.relayMaxReservations,
        reservationTtlSeconds: config.relayReservationTtlSeconds,
        durationLimitSeconds: config.relayDurationLimitSeconds,
        dataLimitBytes: config.relayDataLimitBytes,
      }
    : undefined
  nodes = new LocalNodes<NodeServices>({
    runtimes,
    supervisor,
    actors: lookup,
    registry,
    settings: {
      dataDir: config.dataDir,
      listen: nodeListen(config),
      announce: config.announce,
      ...(config.tls !== undefined ? { tls: await loadTlsCredentials(config.tls) } : {}),
      bootstrap: config.bootstrap,
      mdns: config.mdns,
      dhtProtocol: config.dhtProtocol,
      allowPrivateAddresses: config.allowLoopbackAddresses,
      maxConnections: libp2pMaxConnections(config.maxConnections),
      dialTimeoutMs: config.dialTimeoutMs,
      ...(relayLimits ? { relay: relayLimits } : {}),
      actor: {
        dhtBootstrapTimeoutMs: config.dhtBootstrapTimeoutMs,
        dhtQueueLimit: config.dhtQueueLimit,
        dhtConcurrency: config.dhtConcurrency,
        pruner: { high: config.maxConnections, low: config.lowWatermark, graceMs: config.pruneGraceMs },
        ...(relayLimits ? { relay: relayLimits } : {}),
        backoff: {
          initialMs: config.peerRetryInitialMs,
          maxMs: config.peerRetryMaxMs,
          explicitRetryMs: config.connectRetryMs,
          explicitTries: config.connectTries,
        },
      },
    },
    denyPeer: (alias, peerId) => gate.denyPeer(alias, peerId.toString()),
    activity,
    log,
    version: VERSION,
  })
  const localNodes = nodes
  const sessions = new SessionPeers({
    nodes: localNodes,
    restoreRoot: (alias, cid, signal) => localNodes.services(alias).files.restoreRoot(cid, signal),
    dialTimeoutMs: config.dialTimeoutMs,
  })
  const stopUpkeep = startAddressBookUpkeep(addressBook, runtimes, 60_000, log)

  async function shutdown(): Promise<void> {
    let stopError: unknown
    try {
      stopUpkeep()
      supervisor.send({ type: 'supervisor.shutdown' })
      await waitFor(supervisor, (s) => s.value === 'stopped', { timeout: 30_000 }).catch(() => {})
      await new Promise((resolve) => setImmediate(resolve))
      supervisor.stop()
    } catch (err) {
      stopError = err
    }
    const saves = await Promise.allSettled([addressBook.save(), reputation.save(), ...runtimes.all().map((r) => r.knownPeers.flush())])
    const failed = saves.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []))
    for (const message of failed) log(message)
    if (failed.length > 0) throw new Error(failed.join('; '))
    if (stopError !== undefined) throw stopError
  }

  return {
    config,
    version: VERSION,
    nodes: localNodes,
    sessions,
    peers,
    gate,
    dht: new DhtQueue(lookup),
    files,
    actors,
    stores: { addressBook, reputation, activity },
    presence,
    metrics: new Metrics(),
    shutdown,
  }
}
