import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Blockstore } from 'interface-blockstore'
import { UnavailableError } from '../../errors.ts'
import type { AddressBook } from '../../p2p/address-book.ts'
import type { KnownPeers } from '../../p2p/known-peers.ts'
import type { NodeHandle } from '../../p2p/node-factory.ts'
import type { Reputation } from '../../p2p/reputation.ts'
import type { ActivityLog } from '../activity-log.ts'

/** What every local node of the daemon shares. */
export interface SharedServices {
  addressBook: AddressBook
  reputation: Reputation
  activity: ActivityLog
  dialTimeoutMs: number
}

/** What it takes to build one local node; not part of any machine context (it holds a private key). */
export interface NodeSpec {
  alias: string
  privateKey: PrivateKey
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  dhtProtocol: string
  storageDir?: string
  /** A blockstore shared with the daemon's persistent node (see node-factory NodeOptions). */
  blockstore?: Blockstore
  allowPrivateAddresses: boolean
  denyPeer?: (peerId: PeerId) => boolean
  /** libp2p's own connection limit, above our pruner's high watermark. */
  maxConnections?: number
  /** Warnings about the node's own files. */
  log?: (msg: string) => void
}

/** A per-node service (files, messaging, topics...): built when the node starts, stopped before it stops. */
export interface NodeExtension {
  stop?(): void | Promise<void>
}
export type NodeExtensionFactory = (runtime: NodeRuntime, runtimes: NodeRuntimes) => NodeExtension | Promise<NodeExtension>

export interface NodeRuntime {
  spec: NodeSpec
  /** Extensions of this running node, by name, in start order. */
  extensions: Map<string, NodeExtension>
  handle?: NodeHandle
  knownPeers: KnownPeers
  /** Dials in flight now, and the most seen at once (for peers.connectMany and /metrics). */
  dials: { inFlight: number; max: number }
  /** DHT operations started by the queue, by op id, waiting for their runner. */
  dhtPending: Map<string, PendingDhtOp>
}

export interface PendingDhtOp {
  run: (signal: AbortSignal) => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

export class NodeNotRunningError extends UnavailableError {
  override name = 'NodeNotRunningError'
  constructor(alias: string) {
    super(`local node ${alias} is not running`)
  }
}

/** The live libp2p/Helia objects behind each node actor, by alias. Actors look them up here. */
export class NodeRuntimes {
  readonly #byAlias = new Map<string, NodeRuntime>()
  readonly #factories = new Map<string, NodeExtensionFactory>()

  constructor(readonly services: SharedServices) {}

  /** Every node started from now on gets this extension, in registration order. */
  addExtension(name: string, factory: NodeExtensionFactory): void {
    this.#factories.set(name, factory)
  }

  async startExtensions(runtime: NodeRuntime): Promise<void> {
    for (const [name, factory] of this.#factories) runtime.extensions.set(name, await factory(runtime, this))
  }

  /** Stop extensions in reverse start order; one failing does not keep the others running. */
  async stopExtensions(runtime: NodeRuntime): Promise<void> {
    for (const ext of [...runtime.extensions.values()].reverse()) await Promise.resolve(ext.stop?.()).catch(() => {})
    runtime.extensions.clear()
  }

  /** A running node's extension by name, typed by the caller. */
  extension<T extends NodeExtension>(alias: string, name: string): T {
    const ext = this.#byAlias.get(alias)?.extensions.get(name)
    if (!ext) throw new NodeNotRunningError(alias)
    return ext as T
  }

  register(spec: NodeSpec, knownPeers: KnownPeers): NodeRuntime {
    const runtime: NodeRuntime = { spec, extensions: new Map(), knownPeers, dials: { inFlight: 0, max: 0 }, dhtPending: new Map() }
    this.#byAlias.set(spec.alias, runtime)
    return runtime
  }

  get(alias: string): NodeRuntime | undefined {
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

  all(): NodeRuntime[] {
    return [...this.#byAlias.values()]
  }
}
