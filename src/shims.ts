// Node 20 lacks pieces that libp2p and helia assume; this module must be imported before any of them.
import { WebSocket as WsWebSocket } from 'ws'

if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

/**
 * `ws` as the browser WebSocket, with the browser's error semantics: an `error` event nobody listens
 * to is dropped. Plain `ws` is an EventEmitter, whose unheard `error` throws: a libp2p dial aborted
 * while connecting (its listeners removed) and refused a moment later killed the whole process.
 */
class WebSocketShim extends WsWebSocket {
  constructor(...args: ConstructorParameters<typeof WsWebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

if (typeof globalThis.WebSocket === 'undefined') {
  ;(globalThis as { WebSocket?: unknown }).WebSocket = WebSocketShim
}
