import type { PeerId, PrivateKey } from '@libp2p/interface'
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
  allowPrivateAddresses: boolean
  denyPeer?: (peerId: PeerId) => boolean
}

export interface NodeRuntime {
  spec: NodeSpec
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

export class NodeNotRunningError extends Error {
  override name = 'NodeNotRunningError'
  constructor(alias: string) {
    super(`local node ${alias} is not running`)
  }
}

/** The live libp2p/Helia objects behind each node actor, by alias. Actors look them up here. */
export class NodeRuntimes {
  readonly #byAlias = new Map<string, NodeRuntime>()

  constructor(readonly services: SharedServices) {}

  register(spec: NodeSpec, knownPeers: KnownPeers): NodeRuntime {
    const runtime: NodeRuntime = { spec, knownPeers, dials: { inFlight: 0, max: 0 }, dhtPending: new Map() }
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
