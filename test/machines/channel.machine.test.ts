import type { Stream } from '@libp2p/interface'
import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { type AnyActor, type AnyTransitionDefinition, createActor } from 'xstate'
import { getStateNodes } from 'xstate/graph'
import { Channel, type ChannelHost, type Listener } from '../../src/actors/messaging/channel.ts'
import { channelEffects } from '../../src/actors/messaging/channel.actors.ts'
import { WireStream } from '../../src/actors/messaging/wire-stream.ts'
import { childIds, parentSystemId, parseSystemId, systemIds } from '../../src/machines/actor-ids.ts'
import { kindOfSystemId } from '../../src/machines/catalog.ts'
import { channelForgetMs, channelMachine, channelPublicContext, channelSweepMs } from '../../src/machines/channel/channel.machine.ts'
import type { ChannelInput } from '../../src/machines/channel/channel.types.ts'
import { dataFrame, decodeMessageFrame, encodeMessageFrame, messageFrameDecoder } from '../../src/p2p/message-codec.ts'

const PEER = '12D3KooWChannelPeer'
const PROTOCOL = '/chat/1.0.0'
const input: ChannelInput = { alias: 'a', peerId: PEER, protocol: PROTOCOL, idleMs: 1_000, retryWindowMs: 60_000 }
const SWEEP_MS = channelSweepMs(input)
const FORGET_MS = channelForgetMs(input)

/** A clock whose timers fire only when the test says so. */
class TestClock {
  now = 0
  #next = 1
  readonly armed = new Map<number, { at: number; ms: number; fn: () => void }>()
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++
    this.armed.set(id, { at: this.now + ms, ms, fn })
    return id
  }
  clearTimeout(id: unknown): void {
    this.armed.delete(id as number)
  }
  /** Fire the earliest armed timer of duration `ms` (any duration when omitted), moving time to it. */
  fire(ms?: number): void {
    const due = [...this.armed.entries()].filter(([, t]) => ms === undefined || t.ms === ms).sort(([, a], [, b]) => a.at - b.at)[0]
    if (!due) throw new Error(`no ${ms ?? 'pending'} ms timer is armed`)
    this.armed.delete(due[0])
    this.now = Math.max(this.now, due[1].at)
    due[1].fn()
  }
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      const due = [...this.armed.entries()].filter(([, t]) => t.at <= until).sort(([, a], [, b]) => a.at - b.at)[0]
      if (!due) break
      this.armed.delete(due[0])
      this.now = due[1].at
      due[1].fn()
    }
    this.now = until
  }
}

/** One libp2p stream as the channel sees it; the test plays the remote end. */
class FakeStream extends EventTarget {
  status: 'open' | 'closed' = 'open'
  writeStatus = 'writable'
  remoteWriteStatus = 'writable'
  writableNeedsDrain = false
  readonly protocol = PROTOCOL
  /** Ids of the data frames written on it, in order. */
  readonly written: string[] = []
  readonly acked = new Set<string>()
  readonly #decoder = messageFrameDecoder()

  constructor(readonly direction: 'inbound' | 'outbound') {
    super()
  }
  send(data: Uint8Array | Uint8ArrayList): boolean {
    if (this.status !== 'open') throw new Error('stream closed')
    for (const body of this.#decoder.decode(data)) {
      const frame = decodeMessageFrame(body)
      if (frame.type === 'data') this.written.push(frame.id)
    }
    return true
  }
  async onDrain(): Promise<void> {}
  async close(): Promise<void> {
    this.end()
  }
  abort(): void {
    this.end()
  }
  /** Closed, by either side. */
  end(): void {
    if (this.status === 'closed') return
    this.status = 'closed'
    this.writeStatus = 'closed'
    this.remoteWriteStatus = 'closed'
    this.dispatchEvent(new Event('close'))
  }
  /** The remote acknowledges every message written on this stream so far. */
  ackAll(): void {
    for (const id of this.written) {
      if (this.acked.has(id)) continue
      this.acked.add(id)
      this.dispatchEvent(Object.assign(new Event('message'), { data: encodeMessageFrame({ type: 'ack', id }) }))
    }
  }
}

interface PendingOpen {
  settled: boolean
  resolve(stream: FakeStream): void
  reject(error: Error): void
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
const listener: Listener = { push: () => {}, signal: new AbortController().signal, onClose: () => {} }

/** Every transition of the channel machine the real actors below took, across all tests. */
const taken = new Set<string>()

function transitionKey(t: AnyTransitionDefinition): string {
  const target = t.target?.map((n) => n.id).join(',') ?? '(stays)'
  const candidates = t.source.transitions.get(t.eventType) ?? []
  return `${t.source.id} on ${t.eventType} #${candidates.indexOf(t)} -> ${target}`
}

function everyTransition(): string[] {
  const keys: string[] = []
  for (const node of [channelMachine.root, ...getStateNodes(channelMachine.root)])
    for (const candidates of node.transitions.values()) keys.push(...candidates.map(transitionKey))
  return keys.sort()
}

/**
 * The world of one channel: the real data side (Channel) and the real effects bound to the
 * machine, over fake streams, a fake dial, a clock for the machine's delays and one for message
 * deadlines and stream activity. The invariants below read only this world, never the machine.
 */
class World {
  /** The machine's delays (backoff, sweep, forget). */
  readonly clock = new TestClock()
  /** Message deadlines and stream activity. */
  readonly time = new TestClock()
  readonly opens: PendingOpen[] = []
  readonly streams: FakeStream[] = []
  readonly settled: Array<{ id: string; delivered: boolean; error?: string }> = []
  released = false
  /** The next stream attached closes right after, before its opener hears of it. */
  closeOnAttach = false
  #n = 0
  readonly host: ChannelHost = {
    signal: new AbortController().signal,
    timers: {
      now: () => this.time.now,
      setTimeout: (fn, ms) => this.time.setTimeout(fn, ms),
      clearTimeout: (handle) => this.time.clearTimeout(handle),
    },
    retryWindowMs: input.retryWindowMs,
    idleMs: input.idleMs,
    openStream: () =>
      new Promise<Stream>((resolve, reject) => {
        const open: PendingOpen = {
          settled: false,
          resolve: (s) => {
            open.settled = true
            resolve(s as unknown as Stream)
          },
          reject: (e) => {
            open.settled = true
            reject(e)
          },
        }
        this.opens.push(open)
      }),
    attach: (stream, channel) => {
      const ws = new WireStream(
        stream,
        {
          onFrame: (frame) => {
            if (frame.type === 'ack') channel.acked(frame.id)
            else if (frame.type === 'nack') channel.refused(frame.id, frame.error)
          },
          onMalformed: () => {},
          onEnded: (ended) => channel.streamEnded(ended),
        },
        1024 * 1024,
        () => this.time.now,
      )
      channel.attached(ws)
      if (this.closeOnAttach) {
        this.closeOnAttach = false
        queueMicrotask(() => (stream as unknown as FakeStream).end())
      }
      return ws
    },
    lastDialError: () => undefined,
    settle: (_channel, messages, delivered, error) => {
      for (const m of messages) this.settled.push({ id: m.id, delivered, ...(error ? { error } : {}) })
    },
    release: () => {
      this.released = true
    },
  }
  readonly channel = new Channel(PEER, PROTOCOL, this.host)
  readonly actor: AnyActor

  constructor() {
    const machine = channelMachine.provide(channelEffects(() => this.channel))
    let self: AnyActor | undefined
    this.actor = createActor(machine, {
      input,
      clock: this.clock,
      inspect: (e) => {
        if (e.type === '@xstate.microstep' && e.actorRef === self) for (const t of e._transitions) taken.add(transitionKey(t))
      },
    })
    self = this.actor
    this.channel.actor = this.actor
    this.actor.start()
  }

  get state(): string {
    return this.actor.getSnapshot().value as string
  }

  // ---- what the outside world does --------------------------------------------------------

  /** A client sends a message. */
  send(): string {
    const id = `m${++this.#n}`
    this.channel.enqueue({ id, frame: dataFrame(id, '"hi"'), ack: 0, sender: listener, deadline: this.time.now + input.retryWindowMs })
    return id
  }

  pendingOpen(): PendingOpen {
    const open = this.opens.find((o) => !o.settled)
    if (!open) throw new Error('no stream is being opened')
    return open
  }

  /** The dial succeeds and the remote accepts the stream. */
  opened(stream = new FakeStream('outbound')): FakeStream {
    this.streams.push(stream)
    this.pendingOpen().resolve(stream)
    return stream
  }

  /** The remote opens a stream to us; `usable`: both ways (else it already stopped writing). */
  inbound(usable = true): FakeStream {
    const stream = new FakeStream('inbound')
    if (!usable) stream.remoteWriteStatus = 'closed'
    this.streams.push(stream)
    const ws = this.host.attach(stream as unknown as Stream, this.channel)
    if (ws.usable) this.channel.adopt(ws)
    return stream
  }

  carrier(): FakeStream {
    const ws = this.channel.carrier
    if (!ws) throw new Error('no stream carries the messages')
    return ws.stream as unknown as FakeStream
  }

  /** Time passes until every waiting message is past its retry window. */
  windowPasses(): void {
    this.time.advance(input.retryWindowMs)
  }

  openTimers(): number {
    return this.clock.armed.size
  }
}

/** What must hold in the world in each state (from the catalog's description of a channel). */
function checkWorld(w: World): void {
  const ch = w.channel
  const at = `in ${w.state}`
  const inFlightOpens = w.opens.filter((o) => !o.settled).length
  const unsent = ch.queue.filter((m) => m.sentOn === undefined).length
  const ids = w.settled.map((s) => s.id)
  expect(new Set(ids).size, `${at}: a message settled twice`).toBe(ids.length)
  if (ch.carrier) expect(ch.streams.has(ch.carrier), `${at}: the carrier is not one of the channel's streams`).toBe(true)
  for (const m of ch.queue) expect(ids, `${at}: ${m.id} is settled and still queued`).not.toContain(m.id)
  switch (w.state) {
    case 'idle':
      expect(ch.carrier, `${at}: a stream carries messages`).toBeUndefined()
      expect(ch.queue, `${at}: messages wait`).toHaveLength(0)
      expect(inFlightOpens, `${at}: a stream is being opened`).toBe(0)
      break
    case 'opening':
      expect(ch.carrier, `${at}: a stream already carries messages`).toBeUndefined()
      expect(inFlightOpens, `${at}: no stream is being opened`).toBe(1)
      break
    case 'retrying':
      expect(ch.carrier, `${at}: a stream carries messages`).toBeUndefined()
      expect(inFlightOpens, `${at}: a stream is being opened during the backoff`).toBe(0)
      expect(w.openTimers(), `${at}: no backoff is armed`).toBe(1)
      break
    case 'open':
      expect(ch.carrier?.usable, `${at}: no usable stream carries the messages`).toBe(true)
      expect(unsent, `${at}: messages wait unwritten on a usable stream`).toBe(0)
      for (const m of ch.queue) expect(w.carrier().written, `${at}: ${m.id} is not on the carrier`).toContain(m.id)
      break
    case 'closed':
      expect(ch.queue, `${at}: messages wait`).toHaveLength(0)
      expect(
        w.streams.filter((s) => s.status === 'open'),
        `${at}: streams stay open`,
      ).toHaveLength(0)
      expect(w.released, `${at}: the node still holds the channel`).toBe(true)
      break
    default:
      throw new Error(`no invariant for state ${w.state}`)
  }
}

/** Let the world act, let promises settle, then check the world. */
async function step(w: World, act: () => unknown, expected: string): Promise<void> {
  act()
  await tick()
  expect(w.state, 'state').toBe(expected)
  checkWorld(w)
}

describe('channel ids and client view', () => {
  it('names a channel by alias, peer and protocol (which may hold colons), under its node', () => {
    const id = systemIds.channel('peer-a', PEER, '/app:chat/1.0.0')
    expect(id).toBe(`channel:peer-a:${PEER}:/app:chat/1.0.0`)
    expect(parseSystemId(id)).toEqual({ kind: 'channel', alias: 'peer-a', peerId: PEER, protocol: '/app:chat/1.0.0' })
    expect(parentSystemId(id)).toBe('node:peer-a')
    expect(kindOfSystemId(id)?.kind).toBe('channel')
    expect(childIds.channel(PEER, '/x/1')).toBe(`channel:${PEER}:/x/1`)
    expect(childIds.isChannel(childIds.channel(PEER, '/x/1'))).toBe(true)
    expect(childIds.isChannel('topic:chat')).toBe(false)
    for (const bad of ['channel:peer-a', `channel:peer-a:${PEER}`, `channel:peer-a:${PEER}:`])
      expect(parseSystemId(bad), bad).toBeUndefined()
  })

  it('shows no payload and takes no client event', () => {
    const w = new World()
    w.send()
    expect(channelPublicContext(w.actor.getSnapshot().context)).toEqual({
      alias: 'a',
      peerId: PEER,
      protocol: PROTOCOL,
      failures: 0,
      lastError: null,
      streams: 0,
    })
    const clientEvents = kindOfSystemId(systemIds.channel('a', PEER, PROTOCOL))?.clientEvents
    expect(clientEvents).toBeDefined()
    for (const event of [{ type: 'channel.close', reason: 'x' }, { type: 'channel.wake' }, { type: 'channel.adopted' }])
      expect(Value.Check(clientEvents as TSchema, event), event.type).toBe(false)
  })
})

describe('channel machine against a fake world', () => {
  it('opens a stream for the first message, reuses it, closes it once idle, and is forgotten', async () => {
    const w = new World()
    checkWorld(w)
    const m1 = w.send()
    await step(w, () => {}, 'opening')
    const s = w.opened()
    await step(w, () => {}, 'open')
    expect(s.written).toEqual([m1])
    const m2 = w.send()
    await step(w, () => {}, 'open')
    expect(s.written).toEqual([m1, m2])
    await step(w, () => s.ackAll(), 'open')
    expect(w.settled).toEqual([
      { id: m1, delivered: true },
      { id: m2, delivered: true },
    ])
    // a sweep before idleMs has passed keeps the stream
    await step(w, () => w.clock.fire(SWEEP_MS), 'open')
    expect(s.status).toBe('open')
    w.time.advance(input.idleMs)
    await step(w, () => w.clock.fire(SWEEP_MS), 'idle')
    expect(s.status).toBe('closed')
    await step(w, () => w.clock.fire(FORGET_MS), 'closed')
  })

  it('retries an unreachable peer with backoff, gives messages up after the window, and recovers', async () => {
    const w = new World()
    const m1 = w.send()
    await step(w, () => {}, 'opening')
    await step(w, () => w.pendingOpen().reject(new Error('connect ECONNREFUSED 127.0.0.1:1')), 'retrying')
    await step(w, () => w.clock.fire(), 'opening')
    // the window passes while the stream is being opened: given up with the reason
    await step(w, () => w.windowPasses(), 'opening')
    expect(w.settled).toEqual([
      { id: m1, delivered: false, error: `peer ${PEER} unreachable for 60000 ms: connect ECONNREFUSED 127.0.0.1:1` },
    ])
    const m2 = w.send()
    await step(w, () => {}, 'opening')
    await step(w, () => w.pendingOpen().reject(new Error('dial timeout')), 'retrying')
    await step(w, () => w.windowPasses(), 'retrying')
    expect(w.settled.at(-1)).toMatchObject({ id: m2, delivered: false, error: expect.stringMatching(/dial timeout/) })
    w.send()
    await step(w, () => {}, 'retrying')
    await step(w, () => w.windowPasses(), 'retrying')
    // the backoff ends with nothing waiting
    await step(w, () => w.clock.fire(), 'idle')
    // failures are remembered: the next message waits out a backoff first
    const m4 = w.send()
    await step(w, () => {}, 'retrying')
    // the peer connects again: the backoff is cut short
    await step(w, () => w.channel.wake(), 'opening')
    const s = w.opened()
    await step(w, () => {}, 'open')
    await step(w, () => s.ackAll(), 'open')
    expect(w.settled.at(-1)).toEqual({ id: m4, delivered: true })
    // a wake with nothing waiting ends the backoff in idle
    const w2 = new World()
    w2.send()
    await step(w2, () => {}, 'opening')
    await step(w2, () => w2.pendingOpen().reject(new Error('unreachable')), 'retrying')
    await step(w2, () => w2.windowPasses(), 'retrying')
    await step(w2, () => w2.channel.wake(), 'idle')
  })

  it('fails every waiting message at once when the remote does not handle the protocol; a stream dropped at once is a failure', async () => {
    const w = new World()
    w.send()
    w.send()
    await step(w, () => {}, 'opening')
    const refusal = Object.assign(new Error('protocol selection failed'), { name: 'UnsupportedProtocolError' })
    await step(w, () => w.pendingOpen().reject(refusal), 'idle')
    expect(w.settled.map((s) => s.delivered)).toEqual([false, false])
    expect(w.settled[0]?.error).toMatch(/does not handle \/chat\/1\.0\.0: it is not started there/)
    w.send()
    await step(w, () => {}, 'opening')
    const dropped = new FakeStream('outbound')
    dropped.remoteWriteStatus = 'closed'
    await step(w, () => w.opened(dropped), 'retrying')
  })

  it('uses a stream the remote opens, whatever it was doing', async () => {
    // idle: an inbound stream carries our next messages
    const w = new World()
    await step(w, () => w.inbound(), 'open')
    const m1 = w.send()
    await step(w, () => {}, 'open')
    expect(w.carrier().direction).toBe('inbound')
    expect(w.carrier().written).toEqual([m1])

    // opening: the inbound stream wins; the stream we opened stays a spare and is swept once idle
    const w2 = new World()
    w2.send()
    await step(w2, () => {}, 'opening')
    await step(w2, () => w2.inbound(), 'open')
    const spare = w2.opened()
    await step(w2, () => {}, 'open')
    expect(w2.channel.carrier?.stream).not.toBe(spare)
    w2.carrier().ackAll()
    w2.time.advance(input.idleMs)
    await step(w2, () => w2.clock.fire(SWEEP_MS), 'open')
    expect(spare.status).toBe('closed')

    // retrying: the backoff is cut short
    const w3 = new World()
    w3.send()
    await step(w3, () => {}, 'opening')
    await step(w3, () => w3.pendingOpen().reject(new Error('unreachable')), 'retrying')
    await step(w3, () => w3.inbound(), 'open')

    // open with a stream that stopped being writable: the new one carries what was in flight, in order
    const w4 = new World()
    const a = w4.send()
    await step(w4, () => {}, 'opening')
    const old = w4.opened()
    await step(w4, () => {}, 'open')
    old.writeStatus = 'closed'
    const fresh = w4.inbound()
    await step(w4, () => {}, 'open')
    expect(old.status).toBe('open')
    expect(fresh.written).toEqual([a])
  })

  it('resends what a broken stream lost, after a backoff; reopens at once when nothing was lost', async () => {
    const w = new World()
    const m1 = w.send()
    await step(w, () => {}, 'opening')
    const s1 = w.opened()
    await step(w, () => {}, 'open')
    await step(w, () => s1.end(), 'retrying')
    await step(w, () => w.clock.fire(), 'opening')
    const s2 = w.opened()
    await step(w, () => {}, 'open')
    expect(s2.written).toEqual([m1])
    // an ack after failures: the next break reopens without a backoff
    await step(w, () => s2.ackAll(), 'open')
    s2.writeStatus = 'closed'
    w.send()
    await step(w, () => {}, 'opening')
  })

  it('follows streams of the pair that carry nothing', async () => {
    const w = new World()
    const idleOne = w.inbound(false)
    await step(w, () => {}, 'idle')
    await step(w, () => w.clock.fire(SWEEP_MS), 'idle')
    await step(w, () => idleOne.end(), 'idle')

    w.send()
    await step(w, () => {}, 'opening')
    const o = w.inbound(false)
    await step(w, () => o.end(), 'opening')
    await step(w, () => w.pendingOpen().reject(new Error('unreachable')), 'retrying')
    const r = w.inbound(false)
    await step(w, () => r.end(), 'retrying')
    await step(w, () => w.clock.fire(), 'opening')
    const s = w.opened()
    await step(w, () => {}, 'open')
    const extra = w.inbound(false)
    await step(w, () => extra.end(), 'open')
    s.ackAll()
  })

  it('handles the stream it opened closing before the opening is over', async () => {
    // nothing waits any more: idle
    const w = new World()
    w.send()
    await step(w, () => {}, 'opening')
    await step(w, () => w.windowPasses(), 'opening')
    w.closeOnAttach = true
    await step(w, () => w.opened(), 'idle')

    // messages wait, no failure yet: open another at once
    const w2 = new World()
    w2.send()
    await step(w2, () => {}, 'opening')
    w2.closeOnAttach = true
    await step(w2, () => w2.opened(), 'opening')

    // messages wait after a failure: back off first
    const w3 = new World()
    w3.send()
    await step(w3, () => {}, 'opening')
    await step(w3, () => w3.pendingOpen().reject(new Error('unreachable')), 'retrying')
    await step(w3, () => w3.clock.fire(), 'opening')
    w3.closeOnAttach = true
    await step(w3, () => w3.opened(), 'retrying')
  })

  it('closes with its node: waiting messages fail with the reason, streams close', async () => {
    const w = new World()
    const m1 = w.send()
    await step(w, () => {}, 'opening')
    const s = w.opened()
    await step(w, () => {}, 'open')
    await step(w, () => w.channel.shutdown('local peer a stopped'), 'closed')
    expect(s.status).toBe('closed')
    expect(w.settled).toEqual([{ id: m1, delivered: false, error: 'local peer a stopped' }])
  })

  it('took every transition of the definition above, with the world checked after it', () => {
    expect(everyTransition().filter((t) => !taken.has(t))).toEqual([])
  })
})
