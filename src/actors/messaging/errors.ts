/** Failures of direct-message calls; `code` is the protocol error code a method answers with. */
export class MessagingError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

/** `send`/`stop` on a protocol this connection did not `start`. */
export class ProtocolNotStartedError extends MessagingError {
  override name = 'ProtocolNotStartedError'
  constructor(protocol: string) {
    super(400, `protocol: ${JSON.stringify(protocol)} is not started on this connection; call start first`)
  }
}

/** `start` of a protocol the node itself serves (identify, kad, the files protocol...). */
export class ReservedProtocolError extends MessagingError {
  override name = 'ReservedProtocolError'
  constructor(protocol: string) {
    super(409, `protocol: ${JSON.stringify(protocol)} is reserved by the node itself`)
  }
}

/** Too many messages wait for one remote peer. */
export class QueueFullError extends MessagingError {
  override name = 'QueueFullError'
  constructor(peerId: string, detail: string) {
    super(429, `queue to peer ${peerId} is full (${detail}); wait for acks and retry`)
  }
}

/** The encoded message is over the frame limit. */
export class MessageTooLargeError extends MessagingError {
  override name = 'MessageTooLargeError'
  constructor(bytes: number, limit: number) {
    super(413, `data: the encoded message is ${bytes} bytes, over the limit of ${limit}`)
  }
}
