import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock, waitFor } from 'xstate'
import { topicMachine } from '../../src/machines/topic/topic.machine.ts'
import type { TopicEmitted, TopicEvent, TopicInput } from '../../src/machines/topic/topic.types.ts'
import { controlledCallback, controlledPromise } from '../support/fakes.ts'

const input: TopicInput = { alias: 'peer-a', topic: 'chat', meshTimeoutMs: 5_000, reprovideMs: 60_000 }

/** A topic actor whose GossipSub join/leave the test settles, on a simulated clock. */
function startTopic() {
  const join = controlledPromise<string[], { alias: string; topic: string }>('join')
  const leave = controlledPromise<void, { alias: string; topic: string }>('leave')
  const watch = controlledCallback<{ alias: string; topic: string }, TopicEvent>('watchTopic')
  const discover = controlledCallback<{ alias: string; topic: string; reprovideMs: number }, TopicEvent>('discover')
  const clock = new SimulatedClock()
  const actor = createActor(
    topicMachine.provide({ actors: { join: join.logic, leave: leave.logic, watchTopic: watch.logic, discover: discover.logic } }),
    {
      input,
      clock,
    },
  )
  const emitted: TopicEmitted[] = []
  actor.on('topic.peerChange', (e) => emitted.push(e))
  actor.start()
  const value = () => JSON.stringify(actor.getSnapshot().value)
  return { actor, join, leave, watch, discover, clock, emitted, value }
}

describe('topic machine', () => {
  it('joins, waits for a first topic peer in meshForming, then is subscribed and discovering', async () => {
    const t = startTopic()
    expect(t.value()).toBe('"joining"')
    t.join.resolve([])
    await waitFor(t.actor, (s) => s.matches({ joined: 'meshForming' }))
    expect(t.discover.live()).toHaveLength(0)
    t.watch.latest().sendBack({ type: 'topic.peerJoined', peerId: 'P1' })
    expect(t.value()).toBe(JSON.stringify({ joined: 'subscribed' }))
    expect(t.discover.live()).toHaveLength(1)
    expect(t.emitted).toEqual([{ type: 'topic.peerChange', topic: 'chat', peerId: 'P1', joined: true }])
    // a repeated join is not news; a leave is, once
    t.watch.latest().sendBack({ type: 'topic.peerJoined', peerId: 'P1' })
    t.watch.latest().sendBack({ type: 'topic.peerLeft', peerId: 'P1' })
    t.watch.latest().sendBack({ type: 'topic.peerLeft', peerId: 'P1' })
    expect(t.emitted.map((e) => e.joined)).toEqual([true, false])
    expect(t.actor.getSnapshot().context.peers).toEqual([])
  })

  it('meshForming gives up after the mesh timeout and counts as subscribed', async () => {
    const t = startTopic()
    t.join.resolve([])
    await waitFor(t.actor, (s) => s.matches({ joined: 'meshForming' }))
    t.clock.increment(4_999)
    expect(t.actor.getSnapshot().matches({ joined: 'meshForming' })).toBe(true)
    t.clock.increment(1)
    expect(t.actor.getSnapshot().matches({ joined: 'subscribed' })).toBe(true)
    expect(t.actor.getSnapshot().context.meshTimedOut).toBe(true)
  })

  it('is reference-counted: it leaves only on the last release', async () => {
    const t = startTopic()
    t.actor.send({ type: 'topic.retain' })
    t.join.resolve(['P1'])
    await waitFor(t.actor, (s) => s.matches({ joined: 'subscribed' }))
    expect(t.actor.getSnapshot().context).toMatchObject({ refs: 2, peers: ['P1'] })
    t.actor.send({ type: 'topic.release' })
    expect(t.actor.getSnapshot().matches({ joined: 'subscribed' })).toBe(true)
    t.actor.send({ type: 'topic.release' })
    expect(t.value()).toBe('"leaving"')
    expect(t.watch.live()).toHaveLength(0)
    expect(t.discover.live()).toHaveLength(0)
    t.leave.resolve()
    await waitFor(t.actor, (s) => s.status === 'done')
  })

  it('a release while the join is in flight leaves as soon as the join is done', async () => {
    const t = startTopic()
    t.actor.send({ type: 'topic.release' })
    expect(t.value()).toBe('"joining"')
    t.join.resolve([])
    await waitFor(t.actor, (s) => s.value === 'leaving')
    t.leave.resolve()
    await waitFor(t.actor, (s) => s.status === 'done')
    expect(t.actor.getSnapshot().context.refs).toBe(0)
  })

  it('a retain while leaving joins again once left, instead of losing the subscription', async () => {
    const t = startTopic()
    t.join.resolve(['P1'])
    await waitFor(t.actor, (s) => s.matches({ joined: 'subscribed' }))
    t.actor.send({ type: 'topic.release' })
    expect(t.value()).toBe('"leaving"')
    t.actor.send({ type: 'topic.retain' })
    t.leave.resolve()
    await waitFor(t.actor, (s) => s.value === 'joining')
    expect(t.join.calls).toHaveLength(2)
    t.join.resolve(['P2'])
    await waitFor(t.actor, (s) => s.matches({ joined: 'subscribed' }))
    expect(t.actor.getSnapshot().context).toMatchObject({ refs: 1, peers: ['P2'] })
  })

  it('a retain and a release while leaving cancel out: it is left', async () => {
    const t = startTopic()
    t.join.resolve([])
    await waitFor(t.actor, (s) => s.matches('joined'))
    t.actor.send({ type: 'topic.release' })
    t.actor.send({ type: 'topic.retain' })
    t.actor.send({ type: 'topic.release' })
    t.leave.resolve()
    await waitFor(t.actor, (s) => s.status === 'done')
    expect(t.join.calls).toHaveLength(1)
  })

  it('a join that fails ends left with the reason', async () => {
    const t = startTopic()
    t.join.reject(new Error('pubsub is not started'))
    const done = await waitFor(t.actor, (s) => s.status === 'done')
    expect(done.context.lastError).toBe('pubsub is not started')
  })
})
