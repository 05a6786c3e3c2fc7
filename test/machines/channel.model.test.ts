import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { channelForgetMs, channelMachine, channelSweepMs } from '../../src/machines/channel/channel.machine.ts'
import type { ChannelContext, ChannelEvent, ChannelInput, OpenResult } from '../../src/machines/channel/channel.types.ts'
import { channelAlways, channelInvariants, type ChannelWorld, channelWorld } from '../support/channel-world.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'

const input: ChannelInput = { alias: 'a', peerId: '12D3KooWChannelPeer', protocol: '/chat/1.0.0', idleMs: 1_000, retryWindowMs: 60_000 }

const openId = invokeId(channelMachine, 'openStream')
const opened = (output: OpenResult) => doneEvent(openId, output)
const openFailed = errorEvent(openId, new Error('connect ECONNREFUSED 127.0.0.1:1'))
const OUTCOMES: OpenResult[] = [
  { kind: 'open' },
  { kind: 'refused', error: 'protocol selection failed' },
  { kind: 'dropped', error: 'stream closed as soon as it opened' },
]

// two failures in a row tell a first backoff from a later one; two side streams tell the last one apart
const MAX_FAILURES = 2
const MAX_STREAMS = 2

type Ended = Extract<ChannelEvent, { type: 'channel.ended' }>
const ended = (carrier: boolean, lost: number, unsent: boolean, streams: number): Ended => ({
  type: 'channel.ended',
  carrier,
  lost,
  unsent,
  streams,
})

const spec: WorldModelSpec<ChannelWorld> = {
  machine: channelMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as ChannelContext
    return JSON.stringify({
      value: snapshot.value,
      failures: c.failures,
      failed: c.lastError !== null,
      streams: c.streams,
      waiting: c.waiting,
    })
  },
  // what the data side can tell in each state (src/actors/messaging/channel.ts says when it tells what)
  events: ({ snapshot, live, timers }: ModelState) => {
    const c = snapshot.context as ChannelContext
    const state = snapshot.value as string
    const canFail = c.failures < MAX_FAILURES
    const events: (ChannelEvent | EventObject)[] = [{ type: 'channel.close', reason: 'local peer a stopped' }, { type: 'channel.adopted' }]
    if (c.streams < MAX_STREAMS) events.push({ type: 'channel.streams', streams: c.streams + 1 })
    // a side stream carries nothing: it loses nothing, and leaves what waits as it was
    if (c.streams > 0) events.push(ended(false, 0, state !== 'open' && state !== 'idle' && c.waiting, c.streams - 1))
    // the queue going from empty to not empty, or back, is told only while no stream carries it
    if (state === 'idle' || (!c.waiting && state !== 'open')) events.push({ type: 'channel.wanted' })
    if (c.waiting && (state === 'opening' || state === 'retrying')) events.push({ type: 'channel.drained' })
    if (state === 'retrying') events.push({ type: 'channel.wake' })
    if (state === 'open') {
      // an ack after failures; the carrier ends with nothing in flight, or with a message lost, or unsent
      if (c.failures > 0 || c.lastError !== null) events.push({ type: 'channel.progress' })
      events.push(ended(true, 0, false, c.streams))
      if (c.waiting) {
        events.push(ended(true, 0, true, c.streams))
        if (canFail) events.push(ended(true, 1, true, c.streams))
      }
    }
    if (live.includes(openId)) {
      events.push(...OUTCOMES.filter((o) => canFail || o.kind !== 'dropped').map(opened))
      if (canFail) events.push(openFailed)
      // the stream being opened became the carrier and died before its opener heard
      events.push(ended(true, 0, c.waiting, c.streams))
      if (c.waiting && canFail) events.push(ended(true, 1, true, c.streams))
    }
    // an idle channel with streams keeps sweeping them: its forget time never comes
    const due = timers.filter((t) => !(state === 'idle' && c.streams > 0 && t.startsWith('xstate.after.forget')))
    return [...events, ...due.map((type) => ({ type }))]
  },
  bind: () => channelWorld(input),
  perform: (world, event) => {
    const e = event as ChannelEvent
    switch (e.type) {
      case 'channel.wanted':
        return world.send()
      case 'channel.drained':
        return world.drain()
      case 'channel.streams':
        return world.attachSide(e.streams)
      case 'channel.adopted':
        return world.adopt()
      case 'channel.progress':
        return world.ack()
      case 'channel.wake':
        return world.wake()
      case 'channel.close':
        return world.close(e.reason)
      case 'channel.ended':
        return world.end(e)
    }
    if (event.type === openFailed.type) return world.failOpen(openFailed.error)
    if (event.type === opened({ kind: 'open' }).type) return world.finishOpen((event as unknown as { output: OpenResult }).output)
    if (event.type.startsWith('xstate.after.sweep.')) return world.passTime(channelSweepMs(input))
    if (event.type.startsWith('xstate.after.forget.')) return world.passTime(channelForgetMs(input))
    if (event.type.startsWith('xstate.after.backoff.')) {
      world.mustBackOff = false
      return world.passTime(world.backoffMs())
    }
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: channelInvariants,
  always: channelAlways,
}

describeWorldModel('channel', spec)
