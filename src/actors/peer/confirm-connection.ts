import type { Connection, IdentifyResult, Libp2p } from '@libp2p/interface'
import { OperationFailedError } from '../../errors.ts'

export class ConnectionRefusedError extends OperationFailedError {
  override name = 'ConnectionRefusedError'
}

/**
 * Tells a connection the remote accepted from one it is about to drop. A remote's connection gater
 * refuses us only after the encryption handshake, and with the muxer negotiated inside that
 * handshake our dial has already resolved by then: the connection closes a moment later. Identify
 * completing on the connection is the remote's first answer, so that is what confirms it.
 * Create before dialling (identify may finish before the dial resolves); stop when done.
 */
export function watchConfirmations(libp2p: Pick<Libp2p, 'addEventListener' | 'removeEventListener'>, peerId: string) {
  const identified = new Set<string>()
  const closed = new Set<string>()
  const waiters = new Set<() => void>()
  const onIdentify = (e: CustomEvent<IdentifyResult>) => {
    if (e.detail.peerId.toString() !== peerId) return
    identified.add(e.detail.connection.id)
    for (const w of waiters) w()
  }
  const onClose = (e: CustomEvent<Connection>) => {
    if (e.detail.remotePeer.toString() !== peerId) return
    closed.add(e.detail.id)
    for (const w of waiters) w()
  }
  libp2p.addEventListener('peer:identify', onIdentify)
  libp2p.addEventListener('connection:close', onClose)

  return {
    /** Resolves once the remote identified on `conn`; rejects if it closes first. A dial that times out keeps a still-open connection. */
    confirm(conn: Connection, signal: AbortSignal): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (identified.has(conn.id)) finish()
          else if (closed.has(conn.id) || conn.status !== 'open') {
            finish(
              new ConnectionRefusedError(
                `the peer closed the connection right after the handshake; it does not accept us (banned, or not a peer it knows)`,
              ),
            )
          }
        }
        const onAbort = () => finish(conn.status === 'open' ? undefined : (signal.reason as Error))
        const finish = (err?: Error) => {
          waiters.delete(check)
          signal.removeEventListener('abort', onAbort)
          if (err) reject(err)
          else resolve()
        }
        waiters.add(check)
        signal.addEventListener('abort', onAbort, { once: true })
        if (signal.aborted) onAbort()
        else check()
      })
    },
    stop() {
      libp2p.removeEventListener('peer:identify', onIdentify)
      libp2p.removeEventListener('connection:close', onClose)
    },
  }
}
