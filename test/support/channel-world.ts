import { type AnyActor, fromPromise } from 'xstate'
import {
  channelBackoffMs,
  channelForgetMs,
  channelMachine,
  channelPublicContext,
  channelSweepMs,
} from '../../src/machines/channel/channel.machine.ts'
import type { ChannelEvent, ChannelInput, OpenResult } from '../../src/machines/channel/channel.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

type Ended = Extract<ChannelEvent, { type: 'channel.ended' }>

/** One opening of a stream to the peer, pending until the world settles it. */
interface OpenCall {
  input: { alias: string; peerId: string; protocol: string }
  signal: AbortSignal
  settled: boolean
  resolve(result: OpenResult): void
  reject(error: Error): void
}

/** An outgoing message of the queue; `written`: on the carrier, waiting for its ack. */
interface Message {
  id: number
  written: boolean
}

/**
 * What the channel actor's effects touch, faked: the data side of one (peer, protocol) pair. The
 * ordered queue of messages waiting for an ack, the stream that carries them (ours or one the
 * remote opened), the other streams of the pair that carry nothing, the openings of a stream in
 * flight, what was given up and why, and the clock. Its own account of failed attempts in a row
 * (`failures`: a failed or dropped opening, a stream that died with messages unacknowledged; an ack
 * or a stream from the remote ends the run) says what backoff must be armed. Nothing here reads
 * the machine.
 */
export class ChannelWorld {
  readonly clock = new WorldClock()
  readonly queue: Message[] = []
  /** The stream messages are written on; `open` false once it died. */
  carrier: { direction: 'inbound' | 'outbound'; open: boolean } | undefined
  /** Open streams of the pair that carry nothing (the remote's, or ours kept as spares). */
  side = 0
  readonly opens: OpenCall[] = []
  /** Failed attempts in a row, by the world's own count. */
  failures = 0
  /** Why the newest failed attempt failed (cleared by an ack). */
  lastError: string | null = null
  /** Its node asked the channel to close. */
  closeAsked = false
  /** The newest timer armed when the peer connected again (a backoff armed since is a new one). */
  wokeAtTimer = 0
  /** A failure happened and neither a backoff has passed since nor did the peer come back: no stream may open yet. */
  mustBackOff = false
  /** The world just did something that makes an opening in flight moot (a stream from the remote, a close). */
  abortOk = false
  readonly givenUp: { id: number; reason: string }[] = []
  readonly delivered: number[] = []
  released = false
  closedWith: string | undefined
  sweeps = 0
  /** When a stream of the pair last attached or ended (the idle channel's forget time starts over). */
  lastStreamChange = 0
  /** The forget time passed with no stream and nothing waiting. */
  forgetPassed = false
  readonly violations: string[] = []
  #next = 0

  constructor(readonly settings: ChannelInput) {}

  readonly effects = {
    actors: {
      openStream: fromPromise<OpenResult, { alias: string; peerId: string; protocol: string }>(
        ({ input, signal }) =>
          new Promise<OpenResult>((resolve, reject) => {
            const { alias, peerId, protocol } = this.settings
            if (input.alias !== alias || input.peerId !== peerId || input.protocol !== protocol)
              this.violations.push(`a stream opened for ${JSON.stringify(input)}`)
            if (this.openInFlight() > 0) this.violations.push('a second stream opened while one is being opened')
            if (this.queue.length === 0) this.violations.push('a stream opened with nothing to send')
            if (this.mustBackOff) this.violations.push('a stream opened right after a failure, without backing off')
            signal.addEventListener('abort', () => {
              if (!call.settled && !this.abortOk) this.violations.push('an opening abandoned for no reason')
            })
            const call: OpenCall = {
              input,
              signal,
              settled: false,
              resolve: (r) => {
                call.settled = true
                resolve(r)
              },
              reject: (e) => {
                call.settled = true
                reject(e)
              },
            }
            this.opens.push(call)
          }),
      ),
    },
    actions: {
      pump: () => {
        if (!this.carrier?.open) return void this.violations.push('messages pumped with no live stream to carry them')
        for (const m of this.queue) m.written = true
      },
      sweepStreams: () => {
        this.sweeps++
      },
      failAll: (_: unknown, { reason }: { reason: string }) => {
        const { peerId, protocol } = this.settings
        if (!reason.includes(peerId) || !reason.includes(protocol)) this.violations.push(`messages failed with a vague reason: ${reason}`)
        this.giveUp(reason)
      },
      closeAll: (_: unknown, { reason }: { reason: string }) => {
        this.closedWith = reason
        this.giveUp(reason)
        if (this.carrier) this.carrier.open = false
        this.carrier = undefined
        this.side = 0
      },
      release: () => {
        if (this.released) this.violations.push('released twice')
        this.released = true
      },
    },
  }

  #tell: (event: ChannelEvent) => void = () => {
    throw new Error('the world has no actor')
  }

  attach = (actor: AnyActor) => {
    this.#tell = (event) => actor.send(event)
  }

  giveUp(reason: string): void {
    for (const m of this.queue.splice(0)) this.givenUp.push({ id: m.id, reason })
  }

  openInFlight = () => this.opens.filter((o) => !o.settled && !o.signal.aborted).length
  unwritten = () => this.queue.filter((m) => !m.written).length
  backoffMs = () => channelBackoffMs({ peerId: this.settings.peerId, failures: this.failures })
  sweepMs = () => channelSweepMs(this.settings)
  forgetMs = () => channelForgetMs(this.settings)
  /** Timers armed of a duration other than the sweep and forget times: backoffs. */
  backoffs = () => [...this.clock.armed.values()].filter((t) => t.ms !== this.sweepMs() && t.ms !== this.forgetMs())
  /** Ids of the armed backoffs. */
  backoffIds = () =>
    [...this.clock.armed.entries()].filter(([, t]) => t.ms !== this.sweepMs() && t.ms !== this.forgetMs()).map(([id]) => id)

  pendingOpen(): OpenCall {
    const call = this.opens.find((o) => !o.settled && !o.signal.aborted)
    if (!call) throw new Error('no stream is being opened')
    return call
  }

  // -- what the outside world does: each tells the actor what the data side would ---------------

  /** A client sends the first message of an empty queue while no stream carries them. */
  send(): void {
    this.abortOk = false
    if (this.queue.length > 0) throw new Error('the queue is not empty: a message does not make the channel wanted')
    this.queue.push({ id: ++this.#next, written: false })
    this.#tell({ type: 'channel.wanted' })
  }

  /** Every waiting message passes its retry window and is given up. */
  drain(): void {
    this.abortOk = false
    if (this.queue.length === 0) throw new Error('nothing waits to be drained')
    this.giveUp('retry window passed')
    this.#tell({ type: 'channel.drained' })
  }

  /** The remote opens a stream of the pair that is not usable for sending (or ours is kept as a spare). */
  attachSide(streams: number): void {
    this.abortOk = false
    if (streams !== this.side + 1) throw new Error(`a stream attached makes ${this.side + 1} side streams, not ${streams}`)
    this.side++
    this.lastStreamChange = this.clock.now
    this.#tell({ type: 'channel.streams', streams })
  }

  /** A usable stream from the remote: the peer is back, and it carries the messages from now on. */
  adopt(): void {
    this.abortOk = true
    if (this.carrier) this.carrier.open = false
    // what was in flight on a retired carrier goes out again on the new one
    for (const m of this.queue) m.written = false
    this.carrier = { direction: 'inbound', open: true }
    this.failures = 0
    this.mustBackOff = false
    this.#tell({ type: 'channel.adopted' })
  }

  /** An ack arrives after failures: the peer answers again. */
  ack(): void {
    if (!this.carrier?.open) throw new Error('no stream carries messages to ack')
    if (this.queue.length === 0) this.queue.push({ id: ++this.#next, written: true })
    for (const m of this.queue.splice(0)) this.delivered.push(m.id)
    this.failures = 0
    this.lastError = null
    this.mustBackOff = false
    this.#tell({ type: 'channel.progress' })
  }

  /** The peer connected again. */
  wake(): void {
    this.abortOk = false
    this.wokeAtTimer = Math.max(0, ...this.clock.armed.keys())
    this.mustBackOff = false
    this.#tell({ type: 'channel.wake' })
  }

  close(reason: string): void {
    this.abortOk = true
    this.closeAsked = true
    this.#tell({ type: 'channel.close', reason })
  }

  /** A stream of the pair ends, arranged so that what it leaves is `e` (lost, unsent, streams). */
  end(e: Ended): void {
    this.abortOk = false
    if (!e.carrier) {
      if (this.side === 0) throw new Error('no side stream to end')
      if (e.lost !== 0 || e.unsent !== this.unwritten() > 0 || e.streams !== this.side - 1)
        throw new Error(`a side stream ending cannot report ${JSON.stringify(e)}`)
      this.side--
      this.lastStreamChange = this.clock.now
      this.#tell(e)
      return
    }
    if (e.streams !== this.side) throw new Error(`the carrier ending leaves ${this.side} streams, not ${e.streams}`)
    if (this.carrier?.open) {
      // time passes: what was in flight expires unanswered; then what the event says is sent
      this.giveUp('no acknowledgement within the retry window')
      if (e.unsent) this.queue.push({ id: ++this.#next, written: e.lost > 0 })
    } else {
      // the stream being opened attached as the carrier and died before its opener heard
      const call = this.pendingOpen()
      if (e.unsent !== this.queue.length > 0) throw new Error(`the queue holds ${this.queue.length}: cannot report ${JSON.stringify(e)}`)
      for (const m of this.queue) m.written = e.lost > 0
      call.resolve({ kind: 'open' })
    }
    if (this.queue.filter((m) => m.written).length !== e.lost) throw new Error(`cannot lose ${e.lost} messages`)
    for (const m of this.queue) m.written = false
    if (this.carrier) this.carrier.open = false
    this.carrier = undefined
    if (e.lost > 0) {
      this.failures++
      this.mustBackOff = true
      this.lastError = `stream to ${this.settings.peerId} closed before ${e.lost} message(s) were acknowledged`
    }
    this.lastStreamChange = this.clock.now
    this.#tell(e)
  }

  /** The opening in flight ends. */
  finishOpen(result: OpenResult): void {
    const call = this.pendingOpen()
    if (result.kind === 'open') this.carrier = { direction: 'outbound', open: true }
    if (result.kind === 'dropped') {
      this.failures++
      this.mustBackOff = true
      this.lastError = result.error
    }
    call.resolve(result)
  }

  failOpen(error: Error): void {
    const call = this.pendingOpen()
    this.failures++
    this.mustBackOff = true
    this.lastError = error.message
    call.reject(error)
  }

  /** Time passes until the timer of `ms` falls due (those due earlier fire first). */
  passTime(ms: number): void {
    this.abortOk = false
    if (ms === this.forgetMs() && this.side === 0 && !this.carrier && this.queue.length === 0) this.forgetPassed = true
    this.clock.fire(ms)
  }
}

export function channelAlways(w: ChannelWorld, actor: AnyActor): void {
  check(w.violations.length === 0, w.violations.join('; '))
  // what a client sees of the channel follows the world's own account
  const view = channelPublicContext(actor.getSnapshot().context)
  check(view.failures === w.failures, `the channel shows ${view.failures} failures, the world counts ${w.failures}`)
  check(
    view.lastError === w.lastError,
    `the channel shows lastError ${JSON.stringify(view.lastError)}, the world ${JSON.stringify(w.lastError)}`,
  )
  // (a closed channel hears of no stream any more: what it shows is what it had)
  if (actor.getSnapshot().status === 'active')
    check(view.streams === w.side, `the channel shows ${view.streams} streams, the world has ${w.side} besides the carrier`)
  check(
    view.alias === w.settings.alias && view.peerId === w.settings.peerId && view.protocol === w.settings.protocol,
    'the channel shows another pair',
  )
  const ids = w.givenUp.map((g) => g.id)
  check(new Set(ids).size === ids.length, 'a message given up twice')
  check(w.openInFlight() <= 1, `${w.openInFlight()} streams being opened at once`)
  check(w.backoffs().length <= 1, `${w.backoffs().length} backoffs armed`)
}

/** Per state, what the world must look like (from src/machines/catalog.ts and docs/statecharts/channel.md). */
export const channelInvariants: Invariants<ChannelWorld> = {
  idle: (w) => {
    check(w.carrier === undefined, 'idle while a stream carries messages')
    check(w.queue.length === 0, `idle while ${w.queue.length} messages wait`)
    check(w.openInFlight() === 0, 'idle while a stream is being opened')
    check(w.backoffs().length === 0, 'idle with a backoff armed')
    check(!w.released, 'idle, and its node has forgotten it')
    check(!w.closeAsked, 'idle after its node asked it to close')
    check(!w.forgetPassed, 'still idle after the forget time passed with no stream and nothing waiting')
    const forget = [...w.clock.armed.values()].find((t) => t.ms === w.forgetMs())
    check(forget !== undefined, 'idle and never to be forgotten: no forget timer armed')
    check(forget.at >= w.lastStreamChange + w.forgetMs(), 'the forget time did not start over when a stream attached or ended')
    if (w.side > 0) check(w.clock.armedFor(w.sweepMs()) === 1, `idle with ${w.side} streams and no sweep armed`)
  },
  opening: (w) => {
    check(w.openInFlight() === 1, `opening with ${w.openInFlight()} streams being opened`)
    check(w.carrier === undefined, 'opening while a stream already carries the messages')
    check(w.backoffs().length === 0, 'opening with a backoff armed')
    check(!w.released, 'opening, and its node has forgotten it')
    check(!w.closeAsked, 'opening after its node asked it to close')
  },
  retrying: (w) => {
    check(w.failures > 0, 'backing off with no failure')
    check(w.openInFlight() === 0, 'a stream is being opened during the backoff')
    check(w.carrier === undefined, 'backing off while a stream carries the messages')
    const backoffs = w.backoffs()
    check(backoffs.length === 1, 'backing off with no backoff armed')
    check((w.backoffIds()[0] ?? 0) > w.wokeAtTimer, 'still waiting out a backoff the peer cut short by connecting')
    check(
      backoffs[0]?.ms === w.backoffMs(),
      `backoff of ${backoffs[0]?.ms} ms armed after ${w.failures} failures in a row, expected ${w.backoffMs()} ms`,
    )
    check(!w.released, 'retrying, and its node has forgotten it')
    check(!w.closeAsked, 'retrying after its node asked it to close')
  },
  open: (w) => {
    check(w.carrier?.open === true, 'open with no live stream carrying the messages')
    check(w.unwritten() === 0, `open with ${w.unwritten()} messages not written on the carrier`)
    check(w.openInFlight() === 0, 'open while another stream is being opened')
    check(w.backoffs().length === 0, 'open with a backoff armed')
    check(w.clock.armedFor(w.sweepMs()) === 1, 'open and idle streams never swept: no sweep armed')
    check(!w.released, 'open, and its node has forgotten it')
    check(!w.closeAsked, 'open after its node asked it to close')
  },
  closed: (w) => {
    check(w.released, 'closed, and its node still holds it')
    check(w.queue.length === 0, `closed with ${w.queue.length} messages waiting`)
    check(w.carrier === undefined && w.side === 0, 'closed with streams open')
    check(w.openInFlight() === 0, 'closed while a stream is being opened')
    check(w.clock.armed.size === 0, 'closed with timers armed')
    check(w.closedWith !== undefined || w.forgetPassed, 'closed, and neither its node stopped nor the forget time passed')
  },
}

export function channelWorld(input: ChannelInput) {
  const world = new ChannelWorld(input)
  return { world, machine: channelMachine.provide(world.effects), clock: world.clock, attach: world.attach }
}
