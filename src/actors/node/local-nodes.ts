import { join } from 'node:path'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { waitFor } from 'xstate'
import { OperationFailedError } from '../../errors.ts'
import type { ActorLookup, SupervisorRef } from '../../machines/actor-refs.ts'
import type { NodeContext, NodeInput } from '../../machines/node/node.types.ts'
import { KnownPeers } from '../../p2p/known-peers.ts'
import type { NodeHandle, NodeOptions } from '../../p2p/node-factory.ts'
import { sessionListenAddrs } from '../../p2p/session-listen.ts'
import type { ActivityLog } from '../activity-log.ts'
import type { ActorRegistry } from '../supervisor/actor-registry.ts'
import type { NodeRuntime, NodeRuntimes, NodeServiceMap, NodeSpec } from './node-runtimes.ts'

export class NodeStartError extends OperationFailedError {
  override name = 'NodeStartError'
}

/** How every local node is built: the listeners and routing of its libp2p node, and its actors' settings. */
export interface NodeSettings
  extends Pick<
    NodeOptions,
    | 'listen'
    | 'bootstrap'
    | 'mdns'
    | 'dhtProtocol'
    | 'allowPrivateAddresses'
    | 'maxConnections'
    | 'dialTimeoutMs'
    | 'relay'
    | 'announce'
    | 'tls'
  > {
  /** Where persistent nodes keep their stores and known peers. */
  dataDir: string
  /** The node actor's input, less what differs per node. */
  actor: Omit<NodeInput, 'alias' | 'persistent'>
}

export interface LocalNodesDeps<S extends NodeServiceMap> {
  runtimes: NodeRuntimes<S>
  supervisor: SupervisorRef
  actors: Pick<ActorLookup, 'node' | 'dht'>
  registry: Pick<ActorRegistry, 'listen'>
  settings: NodeSettings
  /** The connection gater's question for node `alias` (bans, the unknown-peer policy). */
  denyPeer(alias: string, peerId: PeerId): boolean
  activity: Pick<ActivityLog, 'add'>
  log: (msg: string) => void
  version: string
}

/** What this node's relay server holds, or null when it runs none (session peers, `relay: false`). */
function relayOf(handle: NodeHandle): { reservations: number } | null {
  const relay = handle.libp2p.services.relay
  return relay ? { reservations: relay.reservations.size } : null
}

/**
 * A node's open connection count for node.info, counted again only after libp2p opened or closed a
 * connection: `getConnections()` builds an array of every connection (a generator over its peer map
 * and a concat per peer) on each call, about 5% of the daemon's busy time under 100 sockets of
 * node.info calls.
 */
const connectionCounts = new WeakMap<NodeHandle['libp2p'], { n: number | undefined }>()
function connectionCount(libp2p: NodeHandle['libp2p']): number {
  let counted = connectionCounts.get(libp2p)
  if (counted === undefined) {
    const entry: { n: number | undefined } = { n: undefined }
    // libp2p's connection manager tracks the connection in its own listener, registered first
    const recount = () => {
      entry.n = undefined
    }
    libp2p.addEventListener('connection:open', recount)
    libp2p.addEventListener('connection:close', recount)
    connectionCounts.set(libp2p, entry)
    counted = entry
  }
  counted.n ??= libp2p.getConnections().length
  return counted.n
}

/** Bijective base 26: 1 -> a, 26 -> z, 27 -> aa. */
const letters = (n: number): string => (n <= 0 ? '' : letters(Math.floor((n - 1) / 26)) + String.fromCharCode(97 + ((n - 1) % 26)))

/**
 * The daemon's local nodes and their lifecycle: each started under the supervisor from a spec, its
 * live objects and services kept in the runtimes, stopped and forgotten as one.
 */
export class LocalNodes<S extends NodeServiceMap> {
  readonly #d: LocalNodesDeps<S>

  constructor(deps: LocalNodesDeps<S>) {
    this.#d = deps
    // session peers keep their blocks in the persistent node's stores: when that node goes down
    // (a crash the supervisor restarts, or a stop), they go too rather than run on closed stores
    deps.registry.listen((change) => {
      if (change.type !== 'snapshot' || change.snapshot.value !== 'stopping' || change.snapshot.kind !== 'node') return
      const stopping = deps.runtimes.get(change.snapshot.systemId.replace(/^node:/, ''))
      if (stopping?.spec.storageDir === undefined) return
      for (const r of deps.runtimes.all()) {
        if (r.spec.storageDir === undefined && r.handle) {
          deps.activity.add({
            type: 'error',
            alias: r.spec.alias,
            message: `stopped: it shares the stores of ${stopping.spec.alias}, which is stopping`,
          })
          void this.stop(r.spec.alias).catch(() => {})
        }
      }
    }, 'node:')
  }

  /** Start a local node under the supervisor and wait until it runs; a node that fails throws its reason. */
  async start(alias: string, privateKey: PrivateKey, opts: { persistent: boolean; storageDir?: string }): Promise<NodeContext> {
    const { runtimes, settings, supervisor } = this.#d
    // nodes without storage keep their blocks in the persistent node's store: one store per daemon
    const sharedBlocks = runtimes.all().find((r) => r.spec.storageDir !== undefined)?.handle?.blockstore
    const spec: NodeSpec = {
      alias,
      privateKey,
      listen: opts.persistent ? settings.listen : sessionListenAddrs(settings.listen),
      bootstrap: settings.bootstrap,
      mdns: settings.mdns,
      dhtProtocol: settings.dhtProtocol,
      allowPrivateAddresses: settings.allowPrivateAddresses,
      denyPeer: (peerId) => this.#d.denyPeer(alias, peerId),
      log: this.#d.log,
      ...(settings.maxConnections !== undefined ? { maxConnections: settings.maxConnections } : {}),
      ...(settings.dialTimeoutMs !== undefined ? { dialTimeoutMs: settings.dialTimeoutMs } : {}),
      // only the daemon's own node relays: session peers come and go with their tabs
      ...(opts.persistent && settings.relay ? { relay: settings.relay } : {}),
      // the announced addresses are peer-a's; session peers advertise their own listeners
      ...(opts.persistent && settings.announce !== undefined ? { announce: settings.announce } : {}),
      ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
      ...(opts.storageDir !== undefined ? { storageDir: opts.storageDir } : {}),
      ...(opts.storageDir === undefined && sharedBlocks !== undefined ? { blockstore: sharedBlocks } : {}),
    }
    const knownPeers = opts.persistent
      ? await KnownPeers.load(join(settings.dataDir, `known-peers.${alias}.json`), this.#d.log)
      : KnownPeers.inMemory()
    runtimes.register(spec, knownPeers)
    supervisor.send({ type: 'supervisor.startNode', node: { alias, persistent: opts.persistent, ...settings.actor } })
    const node = this.#d.actors.node(alias)
    if (!node) throw new NodeStartError(`local node ${alias} was not spawned`)
    const snap = await waitFor(node, (s) => s.value !== 'starting')
    if (snap.value !== 'running') {
      runtimes.delete(alias)
      throw new NodeStartError(`local node ${alias} failed to start: ${snap.context.error ?? snap.value}`)
    }
    return snap.context
  }

  /** Stop one local node and wait until it has released everything. */
  async stop(alias: string): Promise<void> {
    const node = this.#d.actors.node(alias)
    if (node) {
      this.#d.supervisor.send({ type: 'supervisor.stopNode', alias })
      await waitFor(node, (s) => s.status !== 'active')
    }
    this.#d.runtimes.delete(alias)
  }

  /** The next free session-peer alias: peer-b ... peer-z, peer-aa, ... (peer-a is the daemon's own). */
  allocateAlias(): string {
    for (let n = 2; ; n++) {
      const alias = `peer-${letters(n)}`
      if (!this.#d.runtimes.get(alias)) return alias
    }
  }

  /** The alias hosting `peerId`, if a local node of this daemon has that identity. */
  aliasOfPeerId(peerId: string): string | undefined {
    return this.#d.runtimes.all().find((r) => peerIdFromPrivateKey(r.spec.privateKey).toString() === peerId)?.spec.alias
  }

  /** Where a persistent node keeps its blocks and datastore. */
  storageDir(alias: string): string {
    return join(this.#d.settings.dataDir, 'nodes', alias)
  }

  /** `node.info`: the node's identity, addresses and whether its DHT is ready. */
  info(alias: string) {
    const handle = this.handle(alias)
    // both cached by the node until its addresses change (src/p2p/own-addresses.ts)
    const own = handle.libp2p.services.addresses
    return {
      peerid: handle.libp2p.peerId.toString(),
      alias,
      addrs: own.multiaddrs(),
      dhtReady: this.#d.actors.dht(alias)?.getSnapshot().value === 'ready',
      version: this.#d.version,
      connections: connectionCount(handle.libp2p),
      reachability: own.reachability(),
      relay: relayOf(handle),
    }
  }

  /** A running node's services; NodeNotRunningError (503) otherwise. */
  services(alias: string): S {
    return this.#d.runtimes.services(alias)
  }

  /** A running node's libp2p and Helia objects; NodeNotRunningError (503) otherwise. */
  handle(alias: string): NodeHandle {
    return this.#d.runtimes.handle(alias)
  }

  get(alias: string): NodeRuntime<S> | undefined {
    return this.#d.runtimes.get(alias)
  }

  all(): NodeRuntime<S>[] {
    return this.#d.runtimes.all()
  }

  aliases(): string[] {
    return this.#d.runtimes.aliases()
  }

  /** The running local node with this peer id, if any. */
  byPeerId(peerId: string): NodeRuntime<S> | undefined {
    return this.#d.runtimes.all().find((r) => r.handle?.libp2p.peerId.toString() === peerId)
  }
}
