import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import type { NodeContext, NodeEvent } from '../../src/machines/node/node.types.ts'
import { nodeInput } from '../support/fakes.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { nodeAlways, nodeInvariants, type NodeWorld, nodeWorld } from '../support/node-world.ts'

// with watermarks, so the node runs its pruner too
const input = nodeInput('m', { pruner: { high: 8, low: 4, graceMs: 1_000 } })
const ids = {
  createNode: invokeId(nodeMachine, 'createNode'),
  stopNode: invokeId(nodeMachine, 'stopNode'),
  watchNode: invokeId(nodeMachine, 'watchNode'),
  watchPeers: invokeId(nodeMachine, 'watchPeers'),
}
const built = doneEvent(ids.createNode, { peerId: '12D3KooWModel', addrs: ['/ip4/127.0.0.1/tcp/4001'] })
const buildFailed = errorEvent(ids.createNode, new Error('listen EADDRINUSE'))
const tornDown = doneEvent(ids.stopNode, undefined)
const teardownFailed = errorEvent(ids.stopNode, new Error('blockstore close failed'))
/** The topic actor for `chat` reached `left`: the node releases it. */
const topicLeft = { type: 'xstate.done.actor.topic:chat', actorId: 'topic:chat' } as const

/** What the outside world can send the node, one of each event type it accepts (checked below by coverage). */
const fixtures: EventObject[] = [
  { type: 'node.stop' },
  { type: 'node.addrs', addrs: ['/ip4/127.0.0.1/tcp/4002'] },
  { type: 'node.connections', count: 2 },
  { type: 'node.crashed', error: 'transport closed unexpectedly' },
  { type: 'peers.route', peerId: 'peerB', input: { alias: 'm', peerId: 'peerB', backoff: input.backoff }, spawn: true },
  { type: 'peers.release', peerId: 'peerB' },
  { type: 'topics.ensure', topic: 'chat', meshTimeoutMs: 1_000, reprovideMs: 60_000 },
  { type: 'topics.release', topic: 'chat' },
  { type: 'channels.ensure', peerId: 'peerB', protocol: '/p2p-webapp/1.0.0', idleMs: 30_000, retryWindowMs: 5_000 },
].filter((e) => (nodeMachine.events as readonly string[]).includes(e.type))

/** Where each event comes from in the real system. */
const fromLibp2p = new Set(['node.addrs', 'node.connections', 'node.crashed'])
const fromPeerEvents = new Set(['peers.route', 'peers.release'])

const spec: WorldModelSpec<NodeWorld> = {
  machine: nodeMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as NodeContext & { channels?: string[] }
    return JSON.stringify({
      value: snapshot.value,
      peerId: c.peerId !== undefined,
      addrs: c.addrs.length,
      connections: c.connections,
      error: c.error !== undefined,
      topics: c.topics,
      shards: c.peerShards.length,
      channels: c.channels?.length ?? 0,
    })
  },
  events: ({ live, snapshot }: ModelState) => {
    const c = snapshot.context as NodeContext
    const events = fixtures.filter(
      (e) =>
        (!fromLibp2p.has(e.type) || live.includes(ids.watchNode)) &&
        (!fromPeerEvents.has(e.type) || live.includes(ids.watchPeers)) &&
        // a connection releases only a topic it holds
        (e.type !== 'topics.release' || c.topics.includes('chat')),
    )
    if (live.includes(ids.createNode)) events.push(built, buildFailed)
    if (live.includes(ids.stopNode)) events.push(tornDown, teardownFailed)
    if (c.topics.includes('chat') && snapshot.value === 'running') events.push(topicLeft)
    return events
  },
  bind: () => nodeWorld(input),
  perform: (world, event, actor) => {
    const e = event as NodeEvent
    if (fromLibp2p.has(e.type)) return world.libp2p(e)
    if (fromPeerEvents.has(e.type)) return world.peerEvent(e)
    switch (e.type) {
      case 'node.stop':
        world.stopAsked = true
        return actor.send(e)
      case 'topics.ensure': {
        const held = world.topicHolders.get(e.topic) ?? 0
        world.topicHolders.set(e.topic, held + 1)
        return actor.send(e)
      }
      case 'topics.release': {
        const held = world.topicHolders.get(e.topic) ?? 0
        if (held === 0) throw new Error(`no connection holds ${e.topic}`)
        world.topicHolders.set(e.topic, held - 1)
        return actor.send(e)
      }
    }
    if (event.type === 'channels.ensure') {
      const c = event as EventObject & { peerId: string; protocol: string }
      world.channelsWanted.add(`channel:${c.peerId}:${c.protocol}`)
      return actor.send(event as NodeEvent)
    }
    if (event.type === topicLeft.type) return world.finishTopic('chat')
    if (event.type === built.type) return world.finishCreate()
    if (event.type === buildFailed.type) return world.failCreate(buildFailed.error)
    if (event.type === tornDown.type) return world.finishTeardown()
    if (event.type === teardownFailed.type) return world.failTeardown(teardownFailed.error)
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: nodeInvariants,
  always: nodeAlways,
}

describeWorldModel('node', spec)
