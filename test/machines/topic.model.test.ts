import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { topicMachine } from '../../src/machines/topic/topic.machine.ts'
import type { TopicContext, TopicEvent, TopicInput } from '../../src/machines/topic/topic.types.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { topicAlways, topicInvariants, type TopicWorld, topicWorld } from '../support/topic-world.ts'

const input: TopicInput = { alias: 'm', topic: 'chat', meshTimeoutMs: 5_000, reprovideMs: 60_000 }

const ids = {
  join: invokeId(topicMachine, 'join'),
  leave: invokeId(topicMachine, 'leave'),
  watchTopic: invokeId(topicMachine, 'watchTopic'),
}
const joined = (peers: string[]) => doneEvent(ids.join, peers)
const joinFailed = errorEvent(ids.join, new Error('gossipsub is not started'))
const leftTopic = doneEvent(ids.leave, undefined)
const leaveFailed = errorEvent(ids.leave, new Error('unsubscribe failed'))

// two holders and two topic peers are enough to tell the last release and the last peer apart
const MAX_REFS = 2
const MAX_PEERS = 2

const spec: WorldModelSpec<TopicWorld> = {
  machine: topicMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as TopicContext
    return JSON.stringify({
      value: snapshot.value,
      refs: c.refs,
      peers: c.peers.length,
      meshTimedOut: c.meshTimedOut,
      failed: c.lastError !== null,
    })
  },
  events: ({ snapshot, live, timers }: ModelState) => {
    const c = snapshot.context as TopicContext
    const events: EventObject[] = []
    if (c.refs < MAX_REFS) events.push({ type: 'topic.retain' })
    // a connection releases only what it holds
    if (c.refs > 0) events.push({ type: 'topic.release' })
    if (live.includes(ids.join)) events.push(joined([]), joined(['P']), joinFailed)
    if (live.includes(ids.leave)) events.push(leftTopic, leaveFailed)
    if (live.includes(ids.watchTopic)) {
      const peer: TopicEvent[] = [{ type: 'topic.peerLeft', peerId: 'P' }]
      if (c.peers.length < MAX_PEERS) peer.push({ type: 'topic.peerJoined', peerId: 'P' })
      events.push(...peer)
    }
    return [...events, ...timers.map((type) => ({ type }))]
  },
  bind: () => topicWorld(input),
  perform: (world, event, actor) => {
    const e = event as TopicEvent
    switch (e.type) {
      case 'topic.retain':
        world.holders++
        return actor.send(e)
      case 'topic.release':
        world.holders--
        return actor.send(e)
      case 'topic.peerJoined':
        return world.remoteJoins()
      case 'topic.peerLeft':
        return world.remoteLeaves()
    }
    if (event.type === joinFailed.type) return world.failJoin(joinFailed.error)
    if (event.type === leaveFailed.type) return world.failLeave(leaveFailed.error)
    if (event.type === joined([]).type) return world.finishJoin(((event as { output?: string[] }).output ?? []).length > 0)
    if (event.type === leftTopic.type) return world.pendingLeave().resolve()
    if (event.type.startsWith('xstate.after.')) return world.clock.fire(input.meshTimeoutMs)
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: topicInvariants,
  always: topicAlways,
}

describeWorldModel('topic', spec)
