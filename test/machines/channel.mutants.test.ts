import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import {
  CHANNEL_BACKOFF_INITIAL_MS,
  CHANNEL_BACKOFF_MAX_MS,
  channelBackoffMs,
  channelForgetMs,
  channelMachine,
  channelSweepMs,
} from '../../src/machines/channel/channel.machine.ts'
import type { ChannelEvent, ChannelInput, OpenResult } from '../../src/machines/channel/channel.types.ts'
import { jitterFactor } from '../../src/machines/peer/peer.machine.ts'
import { controlledPromise } from '../support/fakes.ts'

// The channel machine alone, its effects recorded (found by npm run mutate): the pacing of retries and
// sweeps, what an ended stream means, and the events every state must still take.
const PEER = '12D3KooWChannelPeer'
const input: ChannelInput = { alias: 'a', peerId: PEER, protocol: '/chat/1.0.0', idleMs: 1_000, retryWindowMs: 60_000 }
const tick = () => new Promise((resolve) => setImmediate(resolve))

function channel() {
  const clock = new SimulatedClock()
  const open = controlledPromise<OpenResult, { alias: string; peerId: string; protocol: string }>('openStream')
  const effects: string[] = []
  const machine = channelMachine.provide({
    actors: { openStream: open.logic },
    actions: {
      pump: () => void effects.push('pump'),
      sweepStreams: () => void effects.push('sweepStreams'),
      failAll: (_, params) => void effects.push(`failAll: ${params.reason}`),
      closeAll: (_, params) => void effects.push(`closeAll: ${params.reason}`),
      release: () => void effects.push('release'),
    },
  })
  const actor = createActor(machine, { input, clock })
  actor.start()
  const send = (event: ChannelEvent) => actor.send(event)
  const ended = (over: Partial<Extract<ChannelEvent, { type: 'channel.ended' }>>) =>
    send({ type: 'channel.ended', carrier: true, lost: 0, unsent: false, streams: 0, ...over })
  const value = () => actor.getSnapshot().value
  const context = () => actor.getSnapshot().context
  /** Into retrying with one failure, messages waiting. */
  const retrying = async () => {
    send({ type: 'channel.wanted' })
    open.resolve({ kind: 'dropped', error: 'reset' })
    await tick()
  }
  return { actor, clock, open, effects, send, ended, value, context, retrying }
}

describe('channel pacing', () => {
  it('backs off 250 ms doubling to 5 s, with the peer jitter of that attempt', () => {
    const at = (failures: number) => channelBackoffMs({ peerId: PEER, failures })
    expect(at(0)).toBe(CHANNEL_BACKOFF_INITIAL_MS * jitterFactor(PEER, 1))
    expect(at(1)).toBe(250 * jitterFactor(PEER, 1))
    expect(at(2)).toBe(500 * jitterFactor(PEER, 2))
    expect(at(3)).toBe(1_000 * jitterFactor(PEER, 3))
    expect(at(10)).toBe(CHANNEL_BACKOFF_MAX_MS * jitterFactor(PEER, 10))
  })

  it('sweeps at half the idle time, between 50 ms and 5 s; forgets after the longer of idle time and retry window', () => {
    expect(channelSweepMs({ idleMs: 40 })).toBe(50)
    expect(channelSweepMs({ idleMs: 1_000 })).toBe(500)
    expect(channelSweepMs({ idleMs: 60_000 })).toBe(5_000)
    expect(channelForgetMs({ idleMs: 1_000, retryWindowMs: 60_000 })).toBe(60_000)
    expect(channelForgetMs({ idleMs: 90_000, retryWindowMs: 60_000 })).toBe(90_000)
  })
})

describe('channel edges', () => {
  it('opens a stream to its own peer and protocol from its own node', () => {
    const c = channel()
    c.send({ type: 'channel.wanted' })
    expect(c.open.pending().input).toEqual({ alias: 'a', peerId: PEER, protocol: '/chat/1.0.0' })
  })

  it('idle with streams sweeps them and stays; idle without streams is forgotten', () => {
    const c = channel()
    c.send({ type: 'channel.streams', streams: 1 })
    expect(c.context().streams).toBe(1)
    c.clock.increment(channelSweepMs(input))
    expect(c.effects).toEqual(['sweepStreams'])
    c.clock.increment(channelForgetMs(input))
    expect(c.value()).toBe('idle')
    c.send({ type: 'channel.streams', streams: 0 })
    c.clock.increment(channelForgetMs(input))
    expect(c.actor.getSnapshot().status).toBe('done')
    expect(c.effects.at(-1)).toBe('release')
  })

  it('a stream that ends in idle updates the count and the failures only when messages were lost', () => {
    const c = channel()
    c.ended({ carrier: false, lost: 0, streams: 2 })
    expect(c.context()).toMatchObject({ streams: 2, failures: 0, lastError: null })
    c.ended({ carrier: false, lost: 3, unsent: true, streams: 1 })
    expect(c.context()).toMatchObject({
      streams: 1,
      waiting: true,
      failures: 1,
      lastError: `stream to ${PEER} closed before 3 message(s) were acknowledged`,
    })
  })

  it('a refused protocol gives the waiting messages up with the reason and goes idle', async () => {
    const c = channel()
    c.send({ type: 'channel.wanted' })
    c.open.resolve({ kind: 'refused', error: 'protocol selection failed' })
    await tick()
    expect(c.value()).toBe('idle')
    expect(c.context().waiting).toBe(false)
    expect(c.effects).toEqual([`failAll: peer ${PEER} does not handle /chat/1.0.0: it is not started there (protocol selection failed)`])
  })

  it('a dropped or failed open counts a failure with its reason, each time', async () => {
    const c = channel()
    await c.retrying()
    expect(c.value()).toBe('retrying')
    expect(c.context()).toMatchObject({ failures: 1, lastError: 'reset' })
    c.send({ type: 'channel.wake' })
    c.open.pending().reject(new Error('no route'))
    await tick()
    expect(c.context()).toMatchObject({ failures: 2, lastError: 'no route' })
    c.send({ type: 'channel.wake' })
    c.open.resolve({ kind: 'dropped', error: 'again' })
    await tick()
    expect(c.context()).toMatchObject({ failures: 3, lastError: 'again' })
  })

  it('while retrying, wanted and drained decide whether the backoff ends in opening or idle; ended streams are counted', async () => {
    const c = channel()
    await c.retrying()
    c.send({ type: 'channel.drained' })
    c.ended({ carrier: false, streams: 0 })
    c.clock.increment(channelBackoffMs(c.context()))
    expect(c.value()).toBe('idle')

    const d = channel()
    await d.retrying()
    d.send({ type: 'channel.drained' })
    d.send({ type: 'channel.wanted' })
    d.clock.increment(channelBackoffMs(d.context()))
    expect(d.value()).toBe('opening')
  })

  it('while opening, drained and wanted are remembered for after a failure', async () => {
    const c = channel()
    c.send({ type: 'channel.wanted' })
    c.send({ type: 'channel.drained' })
    c.send({ type: 'channel.wanted' })
    expect(c.context().waiting).toBe(true)
    c.send({ type: 'channel.drained' })
    c.open.resolve({ kind: 'dropped', error: 'x' })
    await tick()
    c.clock.increment(channelBackoffMs(c.context()))
    expect(c.value()).toBe('idle')
  })

  it('an adopted stream carries the messages from any state, failures forgotten', async () => {
    for (const into of ['idle', 'opening', 'retrying', 'open'] as const) {
      const c = channel()
      if (into === 'opening') c.send({ type: 'channel.wanted' })
      if (into === 'retrying') await c.retrying()
      if (into === 'open') c.send({ type: 'channel.adopted' })
      c.effects.length = 0
      c.send({ type: 'channel.adopted' })
      expect(c.value()).toBe('open')
      expect(c.context().failures).toBe(0)
      expect(c.effects).toEqual(['pump'])
    }
  })

  it('in opening and open, a stream that is not the carrier ending changes only the count', async () => {
    for (const into of ['opening', 'open'] as const) {
      const c = channel()
      c.send(into === 'opening' ? { type: 'channel.wanted' } : { type: 'channel.adopted' })
      c.ended({ carrier: false, streams: 1 })
      expect(c.value()).toBe(into)
      expect(c.context().streams).toBe(1)
    }
  })

  it('a carrier that ends with messages unsent is replaced (opening again), in opening as in open', async () => {
    for (const into of ['opening', 'open'] as const) {
      const c = channel()
      c.send(into === 'opening' ? { type: 'channel.wanted' } : { type: 'channel.adopted' })
      if (into === 'opening') {
        c.open.resolve({ kind: 'open' })
        await tick()
        c.send({ type: 'channel.wanted' })
        c.ended({ unsent: true, streams: 0 })
      } else c.ended({ unsent: true, streams: 0 })
      expect(c.value()).toBe('opening')
      expect(c.open.calls.filter((call) => !call.settled && !call.signal.aborted)).toHaveLength(1)
    }
  })

  it('a close gives up with its reason from any state and the channel is over', async () => {
    const c = channel()
    c.send({ type: 'channel.wanted' })
    c.send({ type: 'channel.close', reason: 'node stopping' })
    expect(c.effects).toEqual(['closeAll: node stopping', 'release'])
    expect(c.actor.getSnapshot().status).toBe('done')
  })
})
