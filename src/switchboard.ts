import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { type AnyActorRef, waitFor } from 'xstate'
import { enqueueDhtOp } from './actors/dht/dht-queue.ts'
import { type NodeSpec, NodeRuntimes, NodeNotRunningError } from './actors/node/node-runtimes.ts'
import { startSystem } from './actors/supervisor/system.ts'
import type { Config } from './config.ts'
import type { DhtOp } from './machines/dht/dht.types.ts'
import type { NodeContext } from './machines/node/node.types.ts'
import { Metrics } from './server/metrics.ts'
import { VERSION } from './version.ts'

export class NodeStartError extends Error {
  override name = 'NodeStartError'
}

/**
 * The daemon's core without its HTTP face: the actor system, the live nodes behind it, and the
 * operations the server's methods call. Tests and benchmarks use it directly too.
 */
export class Switchboard {
  readonly runtimes = new NodeRuntimes()
  readonly metrics = new Metrics()
  readonly system
  readonly version = VERSION

  constructor(readonly config: Config) {
    this.system = startSystem(this.runtimes)
  }

  get registry() {
    return this.system.registry
  }

  get supervisor() {
    return this.system.supervisor
  }

  /** Start a local node under the supervisor and wait until it runs; a node that fails throws its reason. */
  async startNode(alias: string, privateKey: PrivateKey, opts: { persistent: boolean; storageDir?: string }): Promise<NodeContext> {
    const spec: NodeSpec = {
      alias,
      privateKey,
      listen: opts.persistent ? this.config.listen : this.config.listen.map((a) => a.replace(/\/tcp\/\d+/, '/tcp/0').replace(/\/udp\/\d+/, '/udp/0')),
      bootstrap: this.config.bootstrap,
      mdns: this.config.mdns,
      dhtProtocol: this.config.dhtProtocol,
      allowPrivateAddresses: this.config.allowLoopbackAddresses,
      ...(opts.storageDir !== undefined ? { storageDir: opts.storageDir } : {}),
    }
    this.runtimes.register(spec)
    this.supervisor.send({
      type: 'supervisor.startNode',
      node: {
        alias,
        persistent: opts.persistent,
        dhtBootstrapTimeoutMs: this.config.dhtBootstrapTimeoutMs,
        dhtQueueLimit: this.config.dhtQueueLimit,
        dhtConcurrency: this.config.dhtConcurrency,
      },
    })
    const node = this.nodeRef(alias)
    if (!node) throw new NodeStartError(`local node ${alias} was not spawned`)
    const snap = await waitFor(node, (s) => s.value !== 'starting')
    if (snap.value !== 'running') {
      this.runtimes.delete(alias)
      throw new NodeStartError(`local node ${alias} failed to start: ${(snap.context as NodeContext).error ?? snap.value}`)
    }
    return snap.context as NodeContext
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

  nodeRef(alias: string): AnyActorRef | undefined {
    return this.supervisor.system.get(`node:${alias}`) as AnyActorRef | undefined
  }

  dhtRef(alias: string): AnyActorRef | undefined {
    return this.supervisor.system.get(`dht:${alias}`) as AnyActorRef | undefined
  }

  /** Run a DHT operation through the node's queue: it waits until the DHT is ready. */
  dht<T>(alias: string, op: { kind: DhtOp['kind']; key: string }, run: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
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

  /** Stop every node, then the supervisor. */
  async shutdown(): Promise<void> {
    this.supervisor.send({ type: 'supervisor.shutdown' })
    await waitFor(this.supervisor, (s) => s.status !== 'active', { timeout: 30_000 }).catch(() => {})
    this.supervisor.stop()
  }

  /** Where a persistent node keeps its blocks and datastore. */
  storageDir(alias: string): string {
    return join(this.config.dataDir, 'nodes', alias)
  }
}
