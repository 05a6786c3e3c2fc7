import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { NodeHandle } from '../../p2p/node-factory.ts'

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

  register(spec: NodeSpec): NodeRuntime {
    const runtime: NodeRuntime = { spec, dhtPending: new Map() }
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
