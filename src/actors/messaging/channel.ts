import type { Stream } from '@libp2p/interface'
import type { ChannelContext, ChannelEvent, OpenResult } from '../../machines/channel/channel.types.ts'
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

/** The clock of a channel's message deadlines and stream idle times (Date.now and setTimeout in the daemon). */
export interface ChannelTimers {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** What a channel needs from the messaging service of its node. */
export interface ChannelHost {
  readonly signal: AbortSignal
  readonly timers: ChannelTimers
  readonly retryWindowMs: number
  /** An outbound stream with nothing in flight and no traffic for this long is closed. */
  readonly idleMs: number
  /** Open a stream to the peer for the protocol, dialling it through its peer actor if need be. */
  openStream(peerId: string, protocol: string, signal: AbortSignal): Promise<Stream>
  /** Wrap a stream so its frames reach `channel`. */
  attach(stream: Stream, channel: Channel): WireStream
  /** The last dial error its peer actor recorded, for a reason while our own connect is still trying. */
  lastDialError(peerId: string): string | undefined
  /** A message is settled: tell its sender (ack push) and release its queue slot. */
  settle(channel: Channel, messages: Outgoing[], delivered: boolean, error?: string): void
  /** The channel's actor closed: forget the channel. */
  release(channel: Channel): void
}

/** What a channel needs of its actor (a ChannelRef): where it is, and a way to tell it what changed. */
export interface ChannelActor {
  getSnapshot(): { value: unknown; status: string; context: Pick<ChannelContext, 'failures' | 'lastError'> }
  send(event: ChannelEvent): void
}

/** A refusal by the remote (it does not handle the protocol): retrying cannot help. */
export const isRefusal = (err: unknown) => (err as Error)?.name === 'UnsupportedProtocolError'

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
 * The data side of a channel: everything between this node and one remote peer on one protocol
 * that changes with every message. The ordered queue of outgoing messages waiting for acks, the
 * stream that carries them (`carrier`), every stream of the pair, and the ids already delivered
 * inbound. Its actor (channel.machine.ts) holds the state: whether a stream is being opened, a
 * backoff waited out, or the channel is idle. The actor is told only what changes its state, so a
 * message on an open channel costs the actor nothing.
 */
export class Channel {
  /** Unsettled outgoing messages, in send order. */
  readonly queue: Outgoing[] = []
  readonly #byId = new Map<string, Outgoing>()
  /** Every open stream of this (peer, protocol), either direction. */
  readonly streams = new Set<WireStream>()
  /** Where outgoing data frames are written; set while the actor is `open`. */
  carrier: WireStream | undefined
  readonly delivered = new RecentIds(1024)
  /** The channel's actor, set as soon as its node has spawned it. */
  actor: ChannelActor | undefined
  #pumping = false
  #expiry: unknown

  constructor(
    readonly peerId: string,
    readonly protocol: string,
    readonly host: ChannelHost,
  ) {}

  /** Tell the actor, while it runs. */
  #tell(event: ChannelEvent): void {
    if (this.actor?.getSnapshot().status === 'active') this.actor.send(event)
  }

  /** Whether a stream carries the messages: the actor is `open`. */
  get #open(): boolean {
    return this.actor?.getSnapshot().value === 'open'
  }

  enqueue(message: Outgoing): void {
    this.queue.push(message)
    this.#byId.set(message.id, message)
    if (this.#open) {
      if (this.queue.length === 1) this.#scheduleExpiry()
      void this.pump()
      return
    }
    if (this.queue.length === 1) {
      this.#scheduleExpiry()
      this.#tell({ type: 'channel.wanted' })
    }
  }

  /** The remote confirmed delivery of `id`; a confirmation is progress, so backoff starts over. */
  acked(id: string): void {
    const m = this.#take(id)
    if (!m) return
    const context = this.actor?.getSnapshot().context
    if (context && (context.failures > 0 || context.lastError !== null)) this.#tell({ type: 'channel.progress' })
    this.host.settle(this, [m], true)
  }

  /** The remote refused `id` (protocol not started there, no listener, malformed): final. */
  refused(id: string, reason: string): void {
    const m = this.#take(id)
    if (m) this.host.settle(this, [m], false, `peer ${this.peerId} refused the message: ${reason}`)
  }

  /** A stream was attached to this pair. */
  attached(ws: WireStream): void {
    this.streams.add(ws)
    this.#tell({ type: 'channel.streams', streams: this.streams.size })
  }

  /** A stream of this pair ended: what waited for an ack on it goes out again, in order. */
  streamEnded(ws: WireStream): void {
    this.streams.delete(ws)
    const carrier = this.carrier === ws
    if (carrier) this.carrier = undefined
    let lost = 0
    for (const m of this.queue) {
      if (m.sentOn !== ws) continue
      m.sentOn = undefined
      lost += 1
    }
    ws.inFlight = 0
    this.#tell({
      type: 'channel.ended',
      carrier,
      lost,
      unsent: this.queue.some((m) => m.sentOn === undefined),
      streams: this.streams.size,
    })
    if (this.queue.length > 0) void this.pump()
  }

  /** A usable stream arrived from the remote (it is back): send on it now instead of waiting out a backoff. */
  adopt(ws: WireStream): void {
    if (this.carrier?.usable) return
    const old = this.carrier
    this.carrier = ws
    this.#tell({ type: 'channel.adopted' })
    // set first, so the requeue that retiring triggers goes out on the adopted stream
    old?.retire()
    if (this.queue.length > 0) void this.pump()
  }

  /** The peer connected again: cut a pending backoff short. */
  wake(): void {
    if (this.actor?.getSnapshot().value === 'retrying') this.#tell({ type: 'channel.wake' })
  }

  /** Write every unsent message on the carrier, in order; a carrier found unusable is retired, which tells the actor. */
  async pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      while (!this.host.signal.aborted && this.queue.some((m) => m.sentOn === undefined)) {
        const ws = this.carrier
        if (!ws) return
        if (!ws.usable) {
          // its end tells the actor, which opens another (or waits out a backoff first)
          ws.retire()
          if (this.carrier === ws) return
          continue
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

  /**
   * The actor's `openStream`: open a stream to the peer and make it the carrier. A refusal (the
   * remote does not handle the protocol) is an answer; a dial or stream failure rejects.
   */
  async open(signal: AbortSignal): Promise<OpenResult> {
    let stream: Stream
    try {
      stream = await this.host.openStream(this.peerId, this.protocol, this.host.signal)
    } catch (err) {
      if (isRefusal(err)) return { kind: 'refused', error: (err as Error).message ?? String(err) }
      throw err
    }
    const ws = this.host.attach(stream, this)
    // the actor moved on (a stream from the remote carries the messages now): this one stays a spare, closed once idle
    if (signal.aborted) return { kind: 'dropped', error: 'superseded by a stream from the remote' }
    // accepted and dropped at once: a failure, or a peer doing that would be redialled in a tight loop
    if (!ws.usable) return { kind: 'dropped', error: `stream to ${this.peerId} closed as soon as it opened` }
    this.carrier = ws
    return { kind: 'open' }
  }

  /** The actor's `sweepStreams`: close outbound streams idle past idleMs, retire dead ones. */
  sweep(now = this.host.timers.now()): void {
    for (const ws of [...this.streams]) {
      if (ws.stream.status !== 'open') ws.retire()
      else if (ws.direction === 'outbound' && ws.inFlight === 0 && now - ws.lastActivity >= this.host.idleMs) ws.close()
    }
  }

  #take(id: string): Outgoing | undefined {
    const m = this.#byId.get(id)
    if (!m) return undefined
    this.#byId.delete(id)
    const i = this.queue.indexOf(m)
    if (i >= 0) this.queue.splice(i, 1)
    if (m.sentOn) m.sentOn.inFlight = Math.max(0, m.sentOn.inFlight - 1)
    if (i === 0) this.#scheduleExpiry()
    if (this.queue.length === 0 && !this.#open) this.#tell({ type: 'channel.drained' })
    return m
  }

  /** The oldest message has the earliest deadline: one timer follows the head of the queue. */
  #scheduleExpiry(): void {
    const timers = this.host.timers
    if (this.#expiry !== undefined) timers.clearTimeout(this.#expiry)
    this.#expiry = undefined
    const head = this.queue[0]
    if (!head) return
    this.#expiry = timers.setTimeout(() => this.#expire(), Math.max(0, head.deadline - timers.now()))
  }

  #expire(): void {
    this.#expiry = undefined
    const now = this.host.timers.now()
    const expired: Outgoing[] = []
    while (this.queue[0] && this.queue[0].deadline <= now) expired.push(this.#take(this.queue[0].id) as Outgoing)
    // written and unanswered, or never written (no stream could be opened): say which
    const unanswered = expired.filter((m) => m.sentOn !== undefined)
    const unsent = expired.filter((m) => m.sentOn === undefined)
    if (unanswered.length > 0)
      this.host.settle(this, unanswered, false, `no acknowledgement from ${this.peerId} within ${this.host.retryWindowMs} ms`)
    if (unsent.length > 0) {
      const last = this.actor?.getSnapshot().context.lastError ?? this.host.lastDialError(this.peerId)
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

  /** Stop for good: waiting messages fail with `reason`, streams close. Safe to call twice. */
  close(reason: string): void {
    this.failAll(reason)
    if (this.#expiry !== undefined) this.host.timers.clearTimeout(this.#expiry)
    this.#expiry = undefined
    for (const ws of [...this.streams]) ws.close()
  }

  /** The node stops: the actor closes, and so does everything here. */
  shutdown(reason: string): void {
    this.#tell({ type: 'channel.close', reason })
    this.close(reason)
  }
}
