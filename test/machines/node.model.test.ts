import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import type { NodeContext, NodeEvent } from '../../src/machines/node/node.types.ts'
import { fakeNode, nodeInput } from '../support/fakes.ts'
import {
  describeModel,
  doneEvent,
  errorEvent,
  type Harness,
  invokeId,
  type ModelSpec,
  type ModelState,
  startProbed,
} from '../support/model.ts'

const input = nodeInput('m')
const ids = {
  createNode: invokeId(nodeMachine, 'createNode'),
  stopNode: invokeId(nodeMachine, 'stopNode'),
  watchNode: invokeId(nodeMachine, 'watchNode'),
  watchPeers: invokeId(nodeMachine, 'watchPeers'),
}
const built = doneEvent(ids.createNode, { peerId: '12D3KooWModel', addrs: ['/ip4/127.0.0.1/tcp/4001'] })
const buildFailed = errorEvent(ids.createNode, new Error('listen EADDRINUSE'))
const tornDown = doneEvent(ids.stopNode, undefined)
/** The topic actor for `chat` reached `left`: the node releases it. */
const topicLeft = { type: 'xstate.done.actor.topic:chat', actorId: 'topic:chat' } as const
/** The channel actor to peerB on /chat/1 closed: the node releases it. */
const channelClosed = { type: 'xstate.done.actor.channel:peerB:/chat/1', actorId: 'channel:peerB:/chat/1' } as const
const teardownFailed = errorEvent(ids.stopNode, new Error('blockstore close failed'))

/** One fixture per event type: a new event type fails to compile here until the model knows it. */
const fixtures = {
  'node.stop': { type: 'node.stop' },
  'node.addrs': { type: 'node.addrs', addrs: ['/ip4/127.0.0.1/tcp/4002'] },
  'node.connections': { type: 'node.connections', count: 2 },
  'node.crashed': { type: 'node.crashed', error: 'transport closed unexpectedly' },
  'peers.route': { type: 'peers.route', peerId: 'peerB', input: { alias: 'm', peerId: 'peerB', backoff: input.backoff }, spawn: true },
  'peers.release': { type: 'peers.release', peerId: 'peerB' },
  'topics.ensure': { type: 'topics.ensure', topic: 'chat', meshTimeoutMs: 1_000, reprovideMs: 60_000 },
  'topics.release': { type: 'topics.release', topic: 'chat' },
  'channels.ensure': { type: 'channels.ensure', peerId: 'peerB', protocol: '/chat/1', idleMs: 1_000, retryWindowMs: 5_000 },
} satisfies { [K in NodeEvent['type']]: Extract<NodeEvent, { type: K }> }

/** Where each event comes from in the real system. */
const fromWatchNode = new Set<string>(['node.addrs', 'node.connections', 'node.crashed'])
const fromWatchPeers = new Set<string>(['peers.route', 'peers.release'])

const spec: ModelSpec = {
  machine: nodeMachine,
  input,
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as NodeContext
    return JSON.stringify({
      value: snapshot.value,
      peerId: c.peerId ?? null,
      addrs: c.addrs,
      connections: c.connections,
      error: c.error ?? null,
      topics: c.topics,
      channels: c.channels,
      shards: c.peerShards.length,
    })
  },
  events: ({ live, snapshot }: ModelState) => {
    const events: EventObject[] = Object.values(fixtures).filter(
      (e) => (!fromWatchNode.has(e.type) || live.includes(ids.watchNode)) && (!fromWatchPeers.has(e.type) || live.includes(ids.watchPeers)),
    )
    if (live.includes(ids.createNode)) events.push(built, buildFailed)
    if (live.includes(ids.stopNode)) events.push(tornDown, teardownFailed)
    if ((snapshot.context as NodeContext).topics.includes('chat') && snapshot.value === 'running') events.push(topicLeft)
    if ((snapshot.context as NodeContext).channels.includes(channelClosed.actorId) && snapshot.value === 'running')
      events.push(channelClosed)
    return events
  },
}

function harness(): Harness {
  const fakes = fakeNode()
  const { actor, probe, emitted } = startProbed(fakes.machine, input)
  return {
    actor,
    probe,
    emitted,
    perform: (event) => {
      if (fromWatchNode.has(event.type)) return fakes.watchNode.latest().sendBack(event as NodeEvent)
      if (fromWatchPeers.has(event.type)) return fakes.watchPeers.latest().sendBack(event as NodeEvent)
      if (event.type in fixtures || event.type === topicLeft.type || event.type === channelClosed.type)
        return actor.send(event as NodeEvent)
      if (event.type === built.type) return fakes.createNode.resolve(built.output)
      if (event.type === buildFailed.type) return fakes.createNode.reject(buildFailed.error)
      if (event.type === tornDown.type) return fakes.stopNode.resolve()
      if (event.type === teardownFailed.type) return fakes.stopNode.reject(teardownFailed.error)
      throw new Error(`the harness cannot produce ${event.type}`)
    },
  }
}

describeModel('node', spec, harness)
