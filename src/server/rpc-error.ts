/** A failure that has a protocol error code (protocol.md "Error codes"). */
export class RpcError extends Error {
  override name = 'RpcError'
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

export const badRequest = (message: string) => new RpcError(400, message)
export const notFound = (message: string) => new RpcError(404, message)
export const conflict = (message: string) => new RpcError(409, message)
export const notReady = (message: string) => new RpcError(503, message)

/** Map any thrown value to a code and message a client can act on. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err
  const e = err as Error
  // failures of the per-node services (files, messaging) carry their protocol code
  const code = (err as { code?: unknown })?.code
  if (typeof code === 'number' && code >= 400 && code < 600) return new RpcError(code, e.message)
  switch (e?.name) {
    case 'InvalidInputError':
      return new RpcError(400, e.message)
    case 'UnknownPeerError':
      return new RpcError(404, e.message)
    case 'TopicJoinError':
      return new RpcError(500, e.message)
    case 'DhtOpCancelledError':
      return new RpcError(503, e.message)
    case 'DhtQueueFullError':
      return new RpcError(503, e.message)
    case 'NodeNotRunningError':
      return new RpcError(503, e.message)
    case 'TimeoutError':
      return new RpcError(504, e.message)
    case 'AbortError':
      return new RpcError(500, `aborted: ${e.message}`)
    default:
      return new RpcError(500, e?.message ?? String(err))
  }
}
