import {
  AbortError,
  ConflictError,
  ForbiddenError,
  GoneError,
  InvalidRequestError,
  OperationFailedError,
  RateLimitedError,
  RequestTimeoutError,
  ResourceNotFoundError,
  TimeoutError,
  TooLargeError,
  UnavailableError,
} from '../errors.ts'

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

type ErrorClass = abstract new (...args: never[]) => Error
interface Row {
  code: number
  /** put before the error's message */
  prefix?: string
}

/**
 * Each failure kind (src/errors.ts) and its protocol code, matched with instanceof in this order: a
 * subclass before its base (RequestTimeoutError is a libp2p TimeoutError). Anything else is a 500.
 */
const CODES: ReadonlyArray<readonly [ErrorClass, Row]> = [
  [InvalidRequestError, { code: 400 }],
  [ForbiddenError, { code: 403 }],
  [ResourceNotFoundError, { code: 404 }],
  [RequestTimeoutError, { code: 408 }],
  [ConflictError, { code: 409 }],
  [GoneError, { code: 410 }],
  [TooLargeError, { code: 413 }],
  [RateLimitedError, { code: 429 }],
  [OperationFailedError, { code: 500 }],
  [UnavailableError, { code: 503 }],
  [TimeoutError, { code: 504 }],
  [AbortError, { code: 500, prefix: 'aborted: ' }],
]

/**
 * Timeouts and aborts that have no class to match: the DOMExceptions of AbortSignal.timeout() and
 * AbortController.abort(), and the plain Errors named TimeoutError that deadline() and dialSignal()
 * abort with. These are the platform's standard names, not names of our classes.
 */
const BY_STANDARD_NAME: ReadonlyMap<string, Row> = new Map([
  ['TimeoutError', { code: 504 }],
  ['AbortError', { code: 500, prefix: 'aborted: ' }],
])

/** Map any thrown value to a code and message a client can act on. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err
  const e = err as { name?: unknown; message?: unknown } | null | undefined
  const row = CODES.find(([kind]) => err instanceof kind)?.[1] ?? BY_STANDARD_NAME.get(String(e?.name))
  return new RpcError(row?.code ?? 500, `${row?.prefix ?? ''}${e?.message ?? String(err)}`)
}
