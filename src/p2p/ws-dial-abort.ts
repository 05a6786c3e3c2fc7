/**
 * @libp2p/websockets (10.1.21) leaves the socket of an aborted dial connecting: its connect throws
 * on the abort but never closes the WebSocket it made. After a partition heals, every WebSocket dial
 * abandoned during it gets through at its next SYN, the WebSocket opens, and nobody speaks Noise on
 * it: the listener holds each as a pending inbound handshake until its 10 s upgrade timeout (170 at
 * once in one twenty-daemon heal, docs/lab.md), slots that real handshakes then lacked.
 *
 * This gives the transport's connect no abort signal and races it against the dial's signal
 * instead; a socket that opens after its dial gave up is closed at once. A socket that never opens
 * ends with its own error, as before.
 */
interface WebSocketsInternals {
  _connect(ma: unknown, options?: { signal?: AbortSignal }): Promise<{ close(): void }>
}

export function closeAbandonedWebSockets<T>(transport: T): T {
  const t = transport as unknown as Partial<WebSocketsInternals>
  // another version of the transport, without this method: nothing to mend
  if (typeof t._connect !== 'function') return transport
  const connect = t._connect.bind(transport)
  t._connect = async (ma, options = {}) => {
    const { signal, ...rest } = options
    signal?.throwIfAborted()
    const opening = connect(ma, rest)
    if (signal === undefined) return opening
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        opening.then(
          (ws) => ws.close(),
          () => {},
        )
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      opening.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
  }
  return transport
}
