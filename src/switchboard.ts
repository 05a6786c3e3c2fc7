import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { waitFor } from 'xstate'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ActivityLog } from './actors/activity-log.ts'
import { startAddressBookUpkeep } from './actors/address-book-upkeep.ts'
import { enqueueDhtOp } from './actors/dht/dht-queue.ts'
import { FILES_EXTENSION, filesExtension } from './actors/files/files.ts'
import { messagingExtension } from './actors/messaging/messaging-extension.ts'
import { PeerControl } from './actors/peer/peer-control.ts'
import { PresenceFeed } from './actors/presence/presence-feed.ts'
import { presenceExtension } from './actors/presence/presence.extension.ts'
import { protectionExtension } from './actors/protection/protection.extension.ts'
import { libp2pMaxConnections } from './actors/protection/watermarks.ts'
import { TopicsExtension } from './actors/topic/topics-extension.ts'
import { type NodeSpec, NodeRuntimes, NodeNotRunningError, type SharedServices } from './actors/node/node-runtimes.ts'
import { startSystem } from './actors/supervisor/system.ts'
import type { Config } from './config.ts'
import { OperationFailedError } from './errors.ts'
import { actorLookup, type DhtRef, type NodeRef } from './machines/actor-refs.ts'
import type { DhtOp } from './machines/dht/dht.types.ts'
import type { NodeContext } from './machines/node/node.types.ts'
import { AddressBook } from './p2p/address-book.ts'
import { KnownPeers } from './p2p/known-peers.ts'
import { Reputation } from './p2p/reputation.ts'
import { sessionListenAddrs } from './p2p/session-listen.ts'
import { Metrics } from './server/metrics.ts'
import { VERSION } from './version.ts'

/** Bijective base 26: 1 -> a, 26 -> z, 27 -> aa. */
const letters = (n: number): string => (n <= 0 ? '' : letters(Math.floor((n - 1) / 26)) + String.fromCharCode(97 + ((n - 1) % 26)))

export class NodeStartError extends OperationFailedError {
  override name = 'NodeStartError'
}

/**
 * The daemon's core without its HTTP face: the actor system, the live nodes behind it, and the
 * operations the server's methods call. Tests and benchmarks use it directly too.
 */
export class Switchboard {
  readonly runtimes: NodeRuntimes
  readonly metrics = new Metrics()
  readonly system
  readonly peers = new PeerControl(this)
  /** Each local node's online peers as they change, for presence.update pushes. */
  readonly presence = new PresenceFeed()
  readonly #stopUpkeep: () => void
  readonly version = VERSION

  private constructor(
    readonly config: Config,
    readonly services: SharedServices,
    readonly log: (msg: string) => void,
  ) {
    this.runtimes = new NodeRuntimes(services)
    this.system = startSystem(this.runtimes)
    this.#stopUpkeep = startAddressBookUpkeep(services.addressBook, this.runtimes, 60_000, log)
    this.runtimes.addExtension(
      'topics',
      (runtime, runtimes) =>
        new TopicsExtension(runtime, runtimes, () => this.nodeRef(runtime.spec.alias), {
          meshTimeoutMs: config.topicMeshTimeoutMs,
          reprovideMs: config.topicReprovideMs,
        }),
    )
    this.runtimes.addExtension(FILES_EXTENSION, filesExtension(this))
    this.runtimes.addExtension('messaging', messagingExtension(this))
    this.runtimes.addExtension('protection', protectionExtension(this))
    this.runtimes.addExtension('presence', presenceExtension(this.presence, { defaultTtlSeconds: config.presenceTtlSeconds }))
    // session peers keep their blocks in the persistent node's stores: when that node goes down
    // (a crash the supervisor restarts, or a stop), they go too rather than run on closed stores
    this.system.registry.listen((change) => {
      if (change.type !== 'snapshot' || change.snapshot.value !== 'stopping') return
      const stopping = this.runtimes.get(change.snapshot.systemId.replace(/^node:/, ''))
      if (change.snapshot.kind !== 'node' || stopping?.spec.storageDir === undefined) return
      for (const r of this.runtimes.all()) {
        if (r.spec.storageDir === undefined && r.handle) {
          services.activity.add({
            type: 'error',
            alias: r.spec.alias,
            message: `stopped: it shares the stores of ${stopping.spec.alias}, which is stopping`,
          })
          void this.stopNode(r.spec.alias).catch(() => {})
        }
      }
    })
    // a ban takes effect at once: every local node hangs up on the peer
    services.reputation.on('ban', (ban) => {
      services.activity.add({
        type: 'info',
        alias: '*',
        peerId: ban.peerId,
        message: `banned ${ban.peerId} until ${new Date(ban.until).toISOString()}: ${ban.reason}`,
      })
      void services.reputation.save().catch((err: Error) => log(err.message))
      for (const r of this.runtimes.all()) void r.handle?.libp2p.hangUp(peerIdFromString(ban.peerId)).catch(() => {})
    })
  }

  /** Load the daemon-wide stores (address book, bans) and start the actor system. */
  static async create(config: Config, log: (msg: string) => void = (m) => console.warn(m)): Promise<Switchboard> {
    const addressBook = await AddressBook.load(join(config.dataDir, 'address-book.json'), {
      allowLoopback: config.allowLoopbackAddresses,
      allowPrivate: config.allowLoopbackAddresses,
      log,
    })
    const reputation = await Reputation.load(join(config.dataDir, 'bans.json'), { log })
    return new Switchboard(config, { addressBook, reputation, activity: new ActivityLog(), dialTimeoutMs: config.dialTimeoutMs }, log)
  }

  /**
   * The connection gater's question: banned peers never get in; with `unknownPeers: reject` only
   * peers that are known, added or bootstrap peers do.
   */
  denyPeer(alias: string, peerId: string): boolean {
    if (this.services.reputation.isBanned(peerId)) return true
    if (this.config.unknownPeers === 'allow') return false
    // the daemon's own local peers always reach each other (tabs on one daemon)
    if (this.aliasOfPeerId(peerId) !== undefined) return false
    if (this.config.bootstrap.some((a) => a.endsWith(`/p2p/${peerId}`))) return false
    if (this.runtimes.get(alias)?.knownPeers.has(peerId)) return false
    const ctx = actorLookup(this.supervisor.system).peer(alias, peerId)?.getSnapshot().context
    return ctx?.added !== true
  }

  get registry() {
    return this.system.registry
  }

  get supervisor() {
    return this.system.supervisor
  }

  /** Start a local node under the supervisor and wait until it runs; a node that fails throws its reason. */
  async startNode(alias: string, privateKey: PrivateKey, opts: { persistent: boolean; storageDir?: string }): Promise<NodeContext> {
    // nodes without storage keep their blocks in the persistent node's store: one store per daemon
    const sharedBlocks = this.runtimes.all().find((r) => r.spec.storageDir !== undefined)?.handle?.blockstore
    const spec: NodeSpec = {
      alias,
      privateKey,
      listen: opts.persistent ? this.config.listen : sessionListenAddrs(this.config.listen),
      bootstrap: this.config.bootstrap,
      mdns: this.config.mdns,
      dhtProtocol: this.config.dhtProtocol,
      allowPrivateAddresses: this.config.allowLoopbackAddresses,
      denyPeer: (peerId) => this.denyPeer(alias, peerId.toString()),
      maxConnections: libp2pMaxConnections(this.config.maxConnections),
      log: this.log,
      ...(opts.storageDir !== undefined ? { storageDir: opts.storageDir } : {}),
      ...(opts.storageDir === undefined && sharedBlocks !== undefined ? { blockstore: sharedBlocks } : {}),
    }
    const knownPeers = opts.persistent
      ? await KnownPeers.load(join(this.config.dataDir, `known-peers.${alias}.json`), this.log)
      : KnownPeers.inMemory()
    this.runtimes.register(spec, knownPeers)
    this.supervisor.send({
      type: 'supervisor.startNode',
      node: {
        alias,
        persistent: opts.persistent,
        dhtBootstrapTimeoutMs: this.config.dhtBootstrapTimeoutMs,
        dhtQueueLimit: this.config.dhtQueueLimit,
        dhtConcurrency: this.config.dhtConcurrency,
        backoff: {
          initialMs: this.config.peerRetryInitialMs,
          maxMs: this.config.peerRetryMaxMs,
          explicitRetryMs: this.config.connectRetryMs,
          explicitTries: this.config.connectTries,
        },
      },
    })
    const node = this.nodeRef(alias)
    if (!node) throw new NodeStartError(`local node ${alias} was not spawned`)
    const snap = await waitFor(node, (s) => s.value !== 'starting')
    if (snap.value !== 'running') {
      this.runtimes.delete(alias)
      throw new NodeStartError(`local node ${alias} failed to start: ${snap.context.error ?? snap.value}`)
    }
    return snap.context
  }

  /** Stop one local node and wait until it has released everything. */
  async stopNode(alias: string): Promise<void> {
    const node = this.nodeRef(alias)
    if (node) {
      this.supervisor.send({ type: 'supervisor.stopNode', alias })
      await waitFor(node, (s) => s.status !== 'active')
    }
    this.runtimes.delete(alias)
  }

  topics(alias: string): TopicsExtension {
    return this.runtimes.extension<TopicsExtension>(alias, 'topics')
  }

  /** The next free session-peer alias: peer-b ... peer-z, peer-aa, ... (peer-a is the daemon's own). */
  allocateAlias(): string {
    for (let n = 2; ; n++) {
      const alias = `peer-${letters(n)}`
      if (!this.runtimes.get(alias)) return alias
    }
  }

  /** The alias hosting `peerId`, if a local node of this daemon has that identity. */
  aliasOfPeerId(peerId: string): string | undefined {
    return this.runtimes.all().find((r) => peerIdFromPrivateKey(r.spec.privateKey).toString() === peerId)?.spec.alias
  }

  nodeRef(alias: string): NodeRef | undefined {
    return actorLookup(this.supervisor.system).node(alias)
  }

  dhtRef(alias: string): DhtRef | undefined {
    return actorLookup(this.supervisor.system).dht(alias)
  }

  /** Run a DHT operation through the node's queue: it waits until the DHT is ready. */
  dht<T>(
    alias: string,
    op: { kind: DhtOp['kind']; key: string },
    run: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const dht = this.dhtRef(alias)
    if (!dht) return Promise.reject(new NodeNotRunningError(alias))
    return enqueueDhtOp(this.runtimes, dht, alias, op, run, signal)
  }

  nodeInfo(alias: string) {
    const handle = this.runtimes.handle(alias)
    const dht = this.dhtRef(alias)?.getSnapshot()
    return {
      peerid: handle.libp2p.peerId.toString(),
      alias,
      addrs: handle.libp2p.getMultiaddrs().map(String),
      dhtReady: dht?.value === 'ready',
      version: this.version,
      connections: handle.libp2p.getConnections().length,
    }
  }

  /**
   * Stop every node, then the supervisor. The saves (address book, bans, known peers) run whatever
   * the stops did; a save that fails is logged and makes shutdown reject naming it.
   */
  async shutdown(): Promise<void> {
    let stopError: unknown
    try {
      this.#stopUpkeep()
      this.supervisor.send({ type: 'supervisor.shutdown' })
      await waitFor(this.supervisor, (s) => s.value === 'stopped', { timeout: 30_000 }).catch(() => {})
      await new Promise((resolve) => setImmediate(resolve))
      this.supervisor.stop()
    } catch (err) {
      stopError = err
    }
    const saves = await Promise.allSettled([
      this.services.addressBook.save(),
      this.services.reputation.save(),
      ...this.runtimes.all().map((r) => r.knownPeers.flush()),
    ])
    const failed = saves.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []))
    for (const message of failed) this.log(message)
    if (failed.length > 0) throw new Error(failed.join('; '))
    if (stopError !== undefined) throw stopError
  }

  /** Where a persistent node keeps its blocks and datastore. */
  storageDir(alias: string): string {
    return join(this.config.dataDir, 'nodes', alias)
  }
}
