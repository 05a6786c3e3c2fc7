import type { Stream } from '@libp2p/interface'
import { jitterFactor } from '../../machines/peer/peer.machine.ts'
import type { WireStream } from './wire-stream.ts'

/** Who gets the `ack` push of a message: the connection that sent it. */
export interface Listener {
  push(method: string, params: unknown): void
  readonly signal: AbortSignal
  onClose(fn: () => void | Promise<void>): void
}

/** A message waiting for its ack. */
export interface Outgoing {
  id: string
  /** The encoded data frame, length prefix included. */
  frame: Uint8Array
  /** The client's ack number; below 0 means no `ack` push. */
  ack: number
  sender: Listener
  /** Past this (epoch ms) it is given up with `delivered: false`. */
  deadline: number
  /** The stream it was written on, while waiting for its ack there. */
  sentOn?: WireStream
}

/** What a channel needs from the messaging service of its node. */
export interface ChannelHost {
  readonly signal: AbortSignal
  readonly retryWindowMs: number
  /** Open a stream to the peer for the protocol, dialling it through its peer actor if need be. */
  openStream(peerId: string, protocol: string, signal: AbortSignal): Promise<Stream>
  /** Wrap a stream so its frames reach `channel`. */
  attach(stream: Stream, channel: Channel): WireStream
  /** The last dial error its peer actor recorded, for a reason while our own connect is still trying. */
  lastDialError(peerId: string): string | undefined
  /** A message is settled: tell its sender (ack push) and release its queue slot. */
  settle(channel: Channel, messages: Outgoing[], delivered: boolean, error?: string): void
}

/** A refusal by the remote (it does not handle the protocol): retrying cannot help. */
export const isRefusal = (err: unknown) => (err as Error)?.name === 'UnsupportedProtocolError'

const BACKOFF_INITIAL_MS = 250
const BACKOFF_MAX_MS = 5_000
const BATCH_BYTES = 256 * 1024

/** Message ids a receiver has delivered recently, to drop the copies a sender resends after losing an ack. */
export class RecentIds {
  readonly #ids = new Set<string>()
  constructor(readonly capacity: number) {}
  has(id: string): boolean {
    return this.#ids.has(id)
  }
  add(id: string): void {
    this.#ids.add(id)
    if (this.#ids.size > this.capacity) this.#ids.delete(this.#ids.values().next().value as string)
  }
}

/**
 * Everything between this node and one remote peer on one protocol: the ordered queue of
 * outgoing messages waiting for acks, the stream they go out on (reused, reopened with backoff
 * while the peer is unreachable), every stream of the pair, and the ids already delivered inbound.
 */
export class Channel {
  /** Unsettled outgoing messages, in send order. */
  readonly queue: Outgoing[] = []
  readonly #byId = new Map<string, Outgoing>()
  /** Every open stream of this (peer, protocol), either direction. */
  readonly streams = new Set<WireStream>()
  /** Where outgoing data frames are written. */
  stream: WireStream | undefined
  readonly delivered = new RecentIds(1024)
  lastUsed = Date.now()
  /** Consecutive failures without an ack in between; sets the backoff before the next stream. */
  #failures = 0
  #lastError: string | undefined
  #pumping = false
  #wake: (() => void) | undefined
  #expiry: NodeJS.Timeout | undefined

  constructor(
    readonly peerId: string,
    readonly protocol: string,
    readonly host: ChannelHost,
  ) {}

  get idle(): boolean {
    return this.queue.length === 0 && this.streams.size === 0
  }

  enqueue(message: Outgoing): void {
    this.queue.push(message)
    this.#byId.set(message.id, message)
    this.lastUsed = Date.now()
    if (this.queue.length === 1) this.#scheduleExpiry()
    void this.pump()
  }

  /** The remote confirmed delivery of `id`; a confirmation is progress, so backoff starts over. */
  acked(id: string): void {
    const m = this.#take(id)
    if (!m) return
    this.#failures = 0
    this.#lastError = undefined
    this.host.settle(this, [m], true)
  }

  /** The remote refused `id` (protocol not started there, no listener, malformed): final. */
  refused(id: string, reason: string): void {
    const m = this.#take(id)
    if (m) this.host.settle(this, [m], false, `peer ${this.peerId} refused the message: ${reason}`)
  }

  /** A stream of this pair ended: what waited for an ack on it goes out again, in order. */
  streamEnded(ws: WireStream): void {
    this.streams.delete(ws)
    if (this.stream === ws) this.stream = undefined
    let lost = 0
    for (const m of this.queue) {
      if (m.sentOn !== ws) continue
      m.sentOn = undefined
      lost += 1
    }
    ws.inFlight = 0
    if (lost > 0) {
      this.#failures += 1
      this.#lastError = `stream to ${this.peerId} closed before ${lost} message(s) were acknowledged`
    }
    if (this.queue.length > 0) void this.pump()
  }

  /** A usable stream arrived from the remote (it is back): send on it now instead of waiting out a backoff. */
  adopt(ws: WireStream): void {
    if (this.stream?.usable) return
    const old = this.stream
    this.stream = ws
    this.#failures = 0
    // set first, so the requeue that retiring triggers goes out on the adopted stream
    old?.retire()
    this.#wake?.()
    if (this.queue.length > 0) void this.pump()
  }

  /** The peer connected again: cut a pending backoff short. */
  wake(): void {
    this.#wake?.()
  }

  /** Write every unsent message, in order, opening a stream first when there is none. */
  async pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (!this.host.signal.aborted && this.queue.some((m) => m.sentOn === undefined)) {
        let ws = this.stream
        if (!ws?.usable) {
          ws?.retire()
          ws = await this.#open()
          if (!ws) continue
        }
        // consecutive messages go out in batches of up to BATCH_BYTES
        ws.cork()
        for (const m of [...this.queue]) {
          if (m.sentOn !== undefined || !this.#byId.has(m.id)) continue
          if (!ws.write(m.frame)) break
          m.sentOn = ws
          ws.inFlight += 1
          if (ws.corkedBytes >= BATCH_BYTES) {
            if (!ws.uncork()) break
            await ws.drained(this.host.signal).catch(() => {})
            ws.cork()
          }
        }
        ws.uncork()
        await ws.drained(this.host.signal).catch(() => {})
      }
    } finally {
      this.#pumping = false
    }
  }

  async #open(): Promise<WireStream | undefined> {
    if (this.#failures > 0)
      await this.#sleep(
        Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** (this.#failures - 1)) * jitterFactor(this.peerId, this.#failures),
      )
    if (this.host.signal.aborted || this.queue.length === 0) return undefined
    // an inbound stream may have been adopted during the pause
    if (this.stream?.usable) return this.stream
    try {
      const stream = await this.host.openStream(this.peerId, this.protocol, this.host.signal)
      const ws = this.host.attach(stream, this)
      if (!ws.usable) {
        // accepted and dropped at once: count it, or a peer doing that would be redialled in a tight loop
        this.#failures += 1
        this.#lastError = `stream to ${this.peerId} closed as soon as it opened`
        return undefined
      }
      this.stream = ws
      return ws
    } catch (err) {
      if (this.host.signal.aborted) return undefined
      const message = (err as Error).message ?? String(err)
      if (isRefusal(err)) {
        this.failAll(`peer ${this.peerId} does not handle ${this.protocol}: it is not started there (${message})`)
        return undefined
      }
      this.#failures += 1
      this.#lastError = message
      return undefined
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.host.signal.removeEventListener('abort', done)
        this.#wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = done
      this.host.signal.addEventListener('abort', done, { once: true })
    })
  }

  #take(id: string): Outgoing | undefined {
    const m = this.#byId.get(id)
    if (!m) return undefined
    this.#byId.delete(id)
    const i = this.queue.indexOf(m)
    if (i >= 0) this.queue.splice(i, 1)
    if (m.sentOn) m.sentOn.inFlight = Math.max(0, m.sentOn.inFlight - 1)
    this.lastUsed = Date.now()
    if (i === 0) this.#scheduleExpiry()
    return m
  }

  /** The oldest message has the earliest deadline: one timer follows the head of the queue. */
  #scheduleExpiry(): void {
    clearTimeout(this.#expiry)
    this.#expiry = undefined
    const head = this.queue[0]
    if (!head) return
    this.#expiry = setTimeout(() => this.#expire(), Math.max(0, head.deadline - Date.now()))
    this.#expiry.unref()
  }

  #expire(): void {
    const now = Date.now()
    const expired: Outgoing[] = []
    while (this.queue[0] && this.queue[0].deadline <= now) expired.push(this.#take(this.queue[0].id) as Outgoing)
    // written and unanswered, or never written (no stream could be opened): say which
    const unanswered = expired.filter((m) => m.sentOn !== undefined)
    const unsent = expired.filter((m) => m.sentOn === undefined)
    if (unanswered.length > 0)
      this.host.settle(this, unanswered, false, `no acknowledgement from ${this.peerId} within ${this.host.retryWindowMs} ms`)
    if (unsent.length > 0) {
      const last = this.#lastError ?? this.host.lastDialError(this.peerId)
      const why = last ? `: ${last}` : ' (still dialling)'
      this.host.settle(this, unsent, false, `peer ${this.peerId} unreachable for ${this.host.retryWindowMs} ms${why}`)
    }
    this.#scheduleExpiry()
  }

  /** Give up every waiting message with `reason`. */
  failAll(reason: string): void {
    const all = [...this.queue]
    for (const m of all) this.#take(m.id)
    if (all.length > 0) this.host.settle(this, all, false, reason)
  }

  /** Stop for good: waiting messages fail with `reason`, streams close. */
  close(reason: string): void {
    this.failAll(reason)
    clearTimeout(this.#expiry)
    this.#wake?.()
    for (const ws of [...this.streams]) ws.close()
  }
}
