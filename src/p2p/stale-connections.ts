import type { Connection, PeerId } from '@libp2p/interface'
import { byteStream } from '@libp2p/utils'

/** libp2p's ping protocol, served by every Switchboard node (the ping service). */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_BYTES = 32

export interface StaleConnection {
  peerId: string
  direction: string
  addr: string
  /** How long it had been open when it was aborted. */
  openMs: number
  reason: string
}

export interface StaleConnectionDeps {
  /** The peer's open connections (libp2p.getConnections). */
  connections(peer: PeerId): Connection[]
  /** How long an older connection has to answer one ping. */
  timeoutMs: number
  onStale(stale: StaleConnection): void
  now(): number
}

/**
 * A peer that opens a new connection while we hold an older one may have been killed and started
 * again. A killed process sends nothing over UDP, so a WebRTC-direct connection to it stays open here
 * until libp2p's heartbeat gives up (20 s at the least), and libp2p announces neither the loss (the
 * peer still has the new connection) nor the new connection (not the peer's first): streams keep
 * going to the dead one (GossipSub, messages) and `libp2p.dial` hands it out. So each older
 * connection gets one ping at once, and one that does not answer in `timeoutMs` is aborted.
 */
export class StaleConnectionCheck {
  readonly #deps: StaleConnectionDeps
  /** Connections with a ping under way: one check each, however many connections open meanwhile. */
  readonly #checking = new WeakSet<Connection>()

  constructor(deps: StaleConnectionDeps) {
    this.#deps = deps
  }

  /** Call on every `connection:open`; settles when the checks it started have (it never rejects). */
  opened(conn: Connection): Promise<void> {
    const checks: Promise<void>[] = []
    for (const old of this.#deps.connections(conn.remotePeer)) {
      if (old === conn || old.status !== 'open' || this.#checking.has(old)) continue
      this.#checking.add(old)
      checks.push(this.#check(old).finally(() => this.#checking.delete(old)))
    }
    return Promise.all(checks).then(() => {})
  }

  async #check(conn: Connection): Promise<void> {
    const signal = AbortSignal.timeout(this.#deps.timeoutMs)
    try {
      const stream = await conn.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
      try {
        const bytes = byteStream(stream)
        await bytes.write(crypto.getRandomValues(new Uint8Array(PING_BYTES)), { signal })
        await bytes.read({ bytes: PING_BYTES, signal })
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
      // it answered: however its stream closes says nothing against the connection
      await stream.close({ signal }).catch((err: Error) => stream.abort(err))
    } catch (err) {
      // closed meanwhile by either end (or the node stopping): nothing stale to abort
      if (conn.status !== 'open') return
      // a peer without the ping protocol (some browsers) answered the protocol negotiation: it is there
      if ((err as Error).name === 'UnsupportedProtocolError') return
      const reason = signal.aborted
        ? `no answer to a ping within ${this.#deps.timeoutMs} ms after the peer connected again`
        : `a ping after the peer connected again failed: ${(err as Error).message}`
      conn.abort(new Error(`stale connection: ${reason}`))
      this.#deps.onStale({
        peerId: conn.remotePeer.toString(),
        direction: conn.direction,
        addr: conn.remoteAddr.toString(),
        openMs: this.#deps.now() - conn.timeline.open,
        reason,
      })
    }
  }
}
