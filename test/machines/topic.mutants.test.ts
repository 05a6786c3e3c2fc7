import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import { topicMachine, topicPublicContext } from '../../src/machines/topic/topic.machine.ts'
import type { TopicEmitted, TopicEvent, TopicInput } from '../../src/machines/topic/topic.types.ts'
import { controlledCallback, controlledPromise } from '../support/fakes.ts'

// Edges of a topic that its walks do not pin down (found by npm run mutate): what clients see of its
// peers, reference counting while joined, a fresh start after a re-join, a failed leave.
const input: TopicInput = { alias: 'peer-a', topic: 'chat', meshTimeoutMs: 5_000, reprovideMs: 60_000 }
const tick = () => new Promise((resolve) => setImmediate(resolve))

function topic() {
  const join = controlledPromise<string[], { alias: string; topic: string }>('join')
  const leave = controlledPromise<void, { alias: string; topic: string }>('leave')
  const watch = controlledCallback<{ alias: string; topic: string }, TopicEvent>('watchTopic')
  const discover = controlledCallback<{ alias: string; topic: string; reprovideMs: number }, TopicEvent>('discover')
  const clock = new SimulatedClock()
  const actor = createActor(
    topicMachine.provide({ actors: { join: join.logic, leave: leave.logic, watchTopic: watch.logic, discover: discover.logic } }),
    { input, clock },
  )
  const emitted: TopicEmitted[] = []
  actor.on('topic.peerChange', (e) => emitted.push(e))
  actor.start()
  const view = () => topicPublicContext(actor.getSnapshot().context)
  return { actor, join, leave, watch, discover, clock, emitted, view }
}

describe('topic edges', () => {
  it('shows clients no peers and no mesh timeout while joining', () => {
    const t = topic()
    expect(t.view()).toEqual({ alias: 'peer-a', topic: 'chat', refs: 1, peers: [], meshTimedOut: false, lastError: null })
  })

  it('watches its own topic on its own node; a peer is announced once when it joins and once when it leaves', async () => {
    const t = topic()
    t.join.resolve([])
    await tick()
    expect(t.watch.latest().input).toEqual({ alias: 'peer-a', topic: 'chat' })
    const send = t.watch.latest().sendBack
    send({ type: 'topic.peerJoined', peerId: 'p1' })
    send({ type: 'topic.peerJoined', peerId: 'p1' })
    expect(t.view().peers).toEqual(['p1'])
    send({ type: 'topic.peerLeft', peerId: 'p1' })
    send({ type: 'topic.peerLeft', peerId: 'p1' })
    send({ type: 'topic.peerLeft', peerId: 'p2' })
    expect(t.view().peers).toEqual([])
    send({ type: 'topic.peerJoined', peerId: 'p3' })
    send({ type: 'topic.peerJoined', peerId: 'p4' })
    send({ type: 'topic.peerLeft', peerId: 'p3' })
    expect(t.view().peers).toEqual(['p4'])
    expect(t.emitted).toEqual([
      { type: 'topic.peerChange', topic: 'chat', peerId: 'p1', joined: true },
      { type: 'topic.peerChange', topic: 'chat', peerId: 'p1', joined: false },
      { type: 'topic.peerChange', topic: 'chat', peerId: 'p3', joined: true },
      { type: 'topic.peerChange', topic: 'chat', peerId: 'p4', joined: true },
      { type: 'topic.peerChange', topic: 'chat', peerId: 'p3', joined: false },
    ])
  })

  it('while joined, every retain is counted: it leaves only on the last release', async () => {
    const t = topic()
    t.join.resolve(['p1'])
    await tick()
    t.actor.send({ type: 'topic.retain' })
    t.actor.send({ type: 'topic.retain' })
    expect(t.view().refs).toBe(3)
    t.actor.send({ type: 'topic.release' })
    t.actor.send({ type: 'topic.release' })
    expect(t.actor.getSnapshot().matches('joined')).toBe(true)
    t.actor.send({ type: 'topic.release' })
    expect(t.actor.getSnapshot().value).toBe('leaving')
  })

  it('a retain while leaving joins again with a clean slate: no peers and no mesh timeout from before', async () => {
    const t = topic()
    t.join.resolve([])
    await tick()
    t.clock.increment(input.meshTimeoutMs)
    t.watch.latest().sendBack({ type: 'topic.peerJoined', peerId: 'p1' })
    expect(t.view()).toMatchObject({ peers: ['p1'], meshTimedOut: true })
    t.actor.send({ type: 'topic.release' })
    t.actor.send({ type: 'topic.retain' })
    t.leave.resolve()
    await tick()
    expect(t.actor.getSnapshot().value).toBe('joining')
    expect(t.view()).toMatchObject({ refs: 1, peers: [], meshTimedOut: false })
  })

  it('a failed leave ends the topic with the reason', async () => {
    const t = topic()
    t.join.resolve([])
    await tick()
    t.actor.send({ type: 'topic.release' })
    t.leave.pending().reject(new Error('gossipsub gone'))
    await tick()
    expect(t.actor.getSnapshot().status).toBe('done')
    expect(t.view().lastError).toBe('gossipsub gone')
  })
})
