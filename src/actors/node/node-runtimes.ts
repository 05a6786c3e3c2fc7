import type { PrivateKey } from '@libp2p/interface'
import { UnavailableError } from '../../errors.ts'
import type { DialResult } from '../../machines/peer/peer.types.ts'
import type { AddressBook } from '../../p2p/address-book.ts'
import type { KnownPeers } from '../../p2p/known-peers.ts'
import type { NodeHandle, NodeOptions, SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import type { Reputation } from '../../p2p/reputation.ts'
import type { ActivityLog } from '../activity-log.ts'

/** What the actors' effects (dials, address upkeep, known-peer saves) share across local nodes. */
export interface SharedServices {
  addressBook: AddressBook
  reputation: Reputation
  activity: ActivityLog
  dialTimeoutMs: number
}

/** What it takes to build one local node; not part of any machine context (it holds a private key). */
export interface NodeSpec extends NodeOptions {
  alias: string
}

/**
 * Everything a node service may ask for when its node starts. A service's factory names the slice
 * it needs (`Pick<NodeComponents, 'alias' | 'libp2p'>`), as js-libp2p services declare their components.
 */
export interface NodeComponents {
  alias: string
  privateKey: PrivateKey
  /** Where a persistent node keeps its files; undefined for session peers. */
  storageDir: string | undefined
  libp2p: SwitchboardLibp2p
  handle: NodeHandle
  knownPeers: KnownPeers
}

/** A per-node service (files, messaging, topics...): built when its node starts, stopped before it stops. */
export interface NodeService {
  stop?(): void | Promise<void>
}

/** A node's services by name; the composition root decides which there are. */
export type NodeServiceMap = Record<string, NodeService>

/**
 * One factory per service, keyed like the services it builds; built in key order, stopped in
 * reverse. `started` holds the node's services built before it (sync builds on files).
 */
export type NodeServiceFactories<S extends NodeServiceMap> = {
  [K in keyof S]: (components: NodeComponents, started: Partial<S>) => S[K] | Promise<S[K]>
}

export interface NodeRuntime<S extends NodeServiceMap = NodeServiceMap> {
  spec: NodeSpec
  handle?: NodeHandle
  /** Set once every service has started; undefined while starting or stopped. */
  services?: S
  knownPeers: KnownPeers
  /**
   * Dials in flight now, the most seen at once (for peers.connectMany and /metrics), and each
   * running dial by peer: libp2p reports a new connection a little before the dial that opened it
   * settles, and a connect is over only once its dial is.
   */
  dials: { inFlight: number; max: number; running: Map<string, Promise<DialResult>> }
}

export class NodeNotRunningError extends UnavailableError {
  override name = 'NodeNotRunningError'
  constructor(alias: string) {
    super(`local node ${alias} is not running`)
  }
}

/** The live libp2p/Helia objects and services behind each node actor, by alias. Actors look them up here. */
export class NodeRuntimes<S extends NodeServiceMap = NodeServiceMap> {
  readonly #byAlias = new Map<string, NodeRuntime<S>>()

  constructor(
    readonly shared: SharedServices,
    private readonly factories: NodeServiceFactories<S>,
  ) {}

  /** Build the node's services in declaration order; one that fails stops those already built. */
  async startServices(runtime: NodeRuntime<S>): Promise<void> {
    const handle = runtime.handle
    if (!handle) throw new NodeNotRunningError(runtime.spec.alias)
    const components: NodeComponents = {
      alias: runtime.spec.alias,
      privateKey: runtime.spec.privateKey,
      storageDir: runtime.spec.storageDir,
      libp2p: handle.libp2p,
      handle,
      knownPeers: runtime.knownPeers,
    }
    const built: Partial<S> = {}
    try {
      for (const name of Object.keys(this.factories) as Array<keyof S>) built[name] = await this.factories[name](components, built)
    } catch (err) {
      await stopAll(built)
      throw err
    }
    runtime.services = built as S
  }

  /** Stop services in reverse start order; one failing does not keep the others running. */
  async stopServices(runtime: NodeRuntime<S>): Promise<void> {
    const services = runtime.services
    runtime.services = undefined
    if (services) await stopAll(services)
  }

  /** A running node's services; NodeNotRunningError (503) while it starts, stops or does not exist. */
  services(alias: string): S {
    const services = this.#byAlias.get(alias)?.services
    if (!services) throw new NodeNotRunningError(alias)
    return services
  }

  register(spec: NodeSpec, knownPeers: KnownPeers): NodeRuntime<S> {
    const runtime: NodeRuntime<S> = { spec, knownPeers, dials: { inFlight: 0, max: 0, running: new Map() } }
    this.#byAlias.set(spec.alias, runtime)
    return runtime
  }

  get(alias: string): NodeRuntime<S> | undefined {
    return this.#byAlias.get(alias)
  }

  /** The running node's handle, or a NodeNotRunningError. */
  handle(alias: string): NodeHandle {
    const handle = this.#byAlias.get(alias)?.handle
    if (!handle) throw new NodeNotRunningError(alias)
    return handle
  }

  delete(alias: string): void {
    this.#byAlias.delete(alias)
  }

  aliases(): string[] {
    return [...this.#byAlias.keys()]
  }

  all(): NodeRuntime<S>[] {
    return [...this.#byAlias.values()]
  }
}

async function stopAll(services: Partial<NodeServiceMap>): Promise<void> {
  for (const service of Object.values(services).reverse()) {
    try {
      await service?.stop?.()
    } catch {
      // the node is stopping anyway; the others must still stop
    }
  }
}
