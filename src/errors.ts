/**
 * The kinds of failure a client can act on. Every domain error that reaches a client extends one of
 * these, and src/server/rpc-error.ts maps each kind to its protocol error code (docs/protocol.md
 * "Error codes") with instanceof, so renaming a domain class cannot change the code it answers with.
 *
 * Where libp2p has the kind, the base here extends libp2p's class (a FileNotFoundError is a libp2p
 * NotFoundError too). The map keys on these bases, not on libp2p's classes, so libp2p's own errors
 * thrown from deep inside a dial or a DHT query (NotFoundError from findPeer, ...) keep answering 500.
 * libp2p's TimeoutError and AbortError are mapped themselves (504; 500 `aborted: `) and re-exported
 * here, so the server names every kind through this module and does not import libp2p.
 */
import { InvalidParametersError, NotFoundError, TimeoutError } from '@libp2p/interface'

export { AbortError, TimeoutError } from '@libp2p/interface'

/** 400: the request itself is wrong (a field that does not parse, a call out of order); fix it, do not retry. */
export class InvalidRequestError extends InvalidParametersError {
  override name = 'InvalidRequestError'
  constructor(message?: string, options?: ErrorOptions) {
    super(message)
    if (options !== undefined && 'cause' in options) this.cause = options.cause
  }
}

/** 403: the request is understood and refused by a rule (a client event that is not a client's to send). */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError'
}

/** 404: what the request names (a path, a peer) does not exist. */
export class ResourceNotFoundError extends NotFoundError {
  override name = 'ResourceNotFoundError'
  constructor(message?: string, options?: ErrorOptions) {
    super(message)
    if (options !== undefined && 'cause' in options) this.cause = options.cause
  }
}

/** 408: the client itself stalled (an upload that stopped sending); not our timeout, which is 504. */
export class RequestTimeoutError extends TimeoutError {
  override name = 'RequestTimeoutError'
  constructor(message?: string, options?: ErrorOptions) {
    super(message)
    if (options !== undefined && 'cause' in options) this.cause = options.cause
  }
}

/** 409: the request conflicts with what is there (a file where a directory is needed, a reserved protocol). */
export class ConflictError extends Error {
  override name = 'ConflictError'
}

/** 410: what the request names existed and is no more (an expired or used pairing ticket); get a new one. */
export class GoneError extends Error {
  override name = 'GoneError'
}

/** 413: the content is over a size limit; the message names which. */
export class TooLargeError extends Error {
  override name = 'TooLargeError'
}

/** 429: too much is already waiting for this caller; wait for earlier work to finish and retry. */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError'
}

/** 503: not ready (the node is not running, a queue is full or stopped); retry later or reconnect. */
export class UnavailableError extends Error {
  override name = 'UnavailableError'
}

/** 500: the operation was tried and failed; the message says why. Also the answer to anything unclassified. */
export class OperationFailedError extends Error {
  override name = 'OperationFailedError'
}

/**
 * A family of error classes under one name for `instanceof` (e.g. "any files error") when each member
 * extends a different kind above.
 */
export function errorFamily<T extends Error>(members: ReadonlyArray<abstract new (...args: never[]) => T>) {
  return {
    members,
    [Symbol.hasInstance](value: unknown): value is T {
      return members.some((c) => value instanceof c)
    },
  }
}
