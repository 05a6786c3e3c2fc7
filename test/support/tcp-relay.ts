import { connect, createServer, type Socket } from 'node:net'

export interface TcpRelay {
  /** The relay's own port on 127.0.0.1. */
  port: number
  /**
   * Stop forwarding in both directions while every socket stays open: what a peer's killed process
   * looks like over a transport that brings no close (UDP), on TCP.
   */
  freeze(): void
  /** Connections relayed now (each is two sockets, in and out). */
  open(): number
  /** Connections the dialling end closed (not ended because the far end closed or failed). */
  closedByDialer(): number
  close(): Promise<void>
}

/**
 * A TCP relay on 127.0.0.1 to `port` on 127.0.0.1. `holdFirstReplyMs` holds the first bytes the far
 * end sends on each connection that long (a peer on a loaded host: it answers a dial at once, its
 * handshake comes late).
 */
export async function tcpRelay(port: number, opts: { holdFirstReplyMs?: number } = {}): Promise<TcpRelay> {
  const sockets: Socket[] = []
  let frozen = false
  let closedByDialer = 0
  const server = createServer((inbound) => {
    const outbound = connect(port, '127.0.0.1')
    sockets.push(inbound, outbound)
    inbound.on('data', (chunk: Buffer) => {
      if (!frozen) outbound.write(chunk)
    })
    let first = opts.holdFirstReplyMs !== undefined
    outbound.on('data', (chunk: Buffer) => {
      if (frozen) return
      if (!first) {
        inbound.write(chunk)
        return
      }
      first = false
      outbound.pause()
      setTimeout(() => {
        inbound.write(chunk)
        outbound.resume()
      }, opts.holdFirstReplyMs)
    })
    let ended = false
    const end = () => {
      ended = true
      inbound.destroy()
      outbound.destroy()
    }
    inbound.on('error', end).on('close', () => {
      if (!ended) closedByDialer++
      end()
    })
    outbound.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    freeze: () => {
      frozen = true
    },
    open: () => sockets.filter((s) => !s.destroyed).length / 2,
    closedByDialer: () => closedByDialer,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
