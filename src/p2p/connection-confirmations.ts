import type { Connection, IdentifyResult } from '@libp2p/interface'
import { OperationFailedError } from '../errors.ts'

export class ConnectionRefusedError extends OperationFailedError {
  override name = 'ConnectionRefusedError'
}

/** The parts of libp2p's components the service listens to. */
export interface ConnectionConfirmationComponents {
  events: {
    addEventListener(type: 'peer:identify', fn: (e: CustomEvent<IdentifyResult>) => void): void
    addEventListener(type: 'connection:close', fn: (e: CustomEvent<Connection>) => void): void
  }
}

/**
 * Which of the node's open connections the remote accepted. A remote's connection gater refuses us
 * only after the encryption handshake, and with the muxer negotiated inside that handshake our dial
 * has resolved, and libp2p has reported the peer connected, by then: the connection closes a moment
 * later. Identify completing on a connection is the remote's first answer, so that is what confirms
 * it. A libp2p service, so it listens from before the node starts and misses no identify, whoever
 * opened the connection (our dial, another service's, the remote's).
 */
export class ConnectionConfirmations {
  /** Ids of confirmed connections still open. */
  readonly #confirmed = new Set<string>()
  readonly #waiters = new Set<() => void>()

  constructor(components: ConnectionConfirmationComponents) {
    components.events.addEventListener('peer:identify', (e) => {
      // identify can settle just after its connection closed: such an id would never be removed
      if (e.detail.connection.status !== 'open') return
      this.#confirmed.add(e.detail.connection.id)
      this.#wake()
    })
    components.events.addEventListener('connection:close', (e) => {
      this.#confirmed.delete(e.detail.id)
      this.#wake()
    })
  }

  /**
   * Resolves once the remote confirmed one of `conns`; rejects with a ConnectionRefusedError once
   * all of them are closed. When `signal` aborts first, a connection still open is kept (a busy
   * remote may answer identify late): it resolves if one is open, else rejects with the reason.
   */
  confirmAny(conns: Connection[], signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const anyOpen = () => conns.some((c) => c.status === 'open')
      const check = () => {
        if (conns.some((c) => this.#confirmed.has(c.id))) finish()
        else if (!anyOpen()) {
          finish(
            new ConnectionRefusedError(
              'the connection closed before the peer answered on it: the peer does not accept us (banned, or not a peer it knows), or the handshake was cut short',
            ),
          )
        }
      }
      const onAbort = () => finish(anyOpen() ? undefined : (signal.reason as Error))
      const finish = (err?: Error) => {
        this.#waiters.delete(check)
        signal.removeEventListener('abort', onAbort)
        if (err) reject(err)
        else resolve()
      }
      this.#waiters.add(check)
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) onAbort()
      else check()
    })
  }

  #wake(): void {
    for (const w of this.#waiters) w()
  }
}

export function connectionConfirmations(components: ConnectionConfirmationComponents): ConnectionConfirmations {
  return new ConnectionConfirmations(components)
}
