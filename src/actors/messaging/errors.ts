import { ConflictError, errorFamily, InvalidRequestError, RateLimitedError, TooLargeError } from '../../errors.ts'

/** `send`/`stop` on a protocol this connection did not `start` (400). */
export class ProtocolNotStartedError extends InvalidRequestError {
  override name = 'ProtocolNotStartedError'
  constructor(protocol: string) {
    super(`protocol: ${JSON.stringify(protocol)} is not started on this connection; call start first`)
  }
}

/** `start` of a protocol the node itself serves (identify, kad, the files protocol...) (409). */
export class ReservedProtocolError extends ConflictError {
  override name = 'ReservedProtocolError'
  constructor(protocol: string) {
    super(`protocol: ${JSON.stringify(protocol)} is reserved by the node itself`)
  }
}

/** Too many messages wait for one remote peer (429). */
export class QueueFullError extends RateLimitedError {
  override name = 'QueueFullError'
  constructor(peerId: string, detail: string) {
    super(`queue to peer ${peerId} is full (${detail}); wait for acks and retry`)
  }
}

/** The encoded message is over the frame limit (413). */
export class MessageTooLargeError extends TooLargeError {
  override name = 'MessageTooLargeError'
  constructor(bytes: number, limit: number) {
    super(`data: the encoded message is ${bytes} bytes, over the limit of ${limit}`)
  }
}

/** Failures of direct-message calls, for `err instanceof MessagingError`; each member's kind gives its protocol code. */
export type MessagingError = ProtocolNotStartedError | ReservedProtocolError | QueueFullError | MessageTooLargeError
export const MessagingError = errorFamily<MessagingError>([
  ProtocolNotStartedError,
  ReservedProtocolError,
  QueueFullError,
  MessageTooLargeError,
])
