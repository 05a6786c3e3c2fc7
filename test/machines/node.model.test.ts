import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import type { NodeContext, NodeEvent } from '../../src/machines/node/node.types.ts'
import { nodeInput } from '../support/fakes.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { nodeAlways, nodeInvariants, type NodeWorld, nodeWorld } from '../support/node-world.ts'

// persistent, with watermarks and relay limits, so the node runs its pruner and its relay too
const input = nodeInput('m', {
  persistent: true,
  pruner: { high: 8, low: 4, graceMs: 1_000 },
  relay: { maxReservations: 4, reservationTtlSeconds: 60, durationLimitSeconds: 60, dataLimitBytes: 65_536 },
})
const pairingInput = {
  alias: 'm',
  pairingId: 'p1',
  role: 'initiator' as const,
  name: 'model',
  ttlMs: 60_000,
  handshakeTimeoutMs: 5_000,
  maxWrongProofs: 3,
}
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
/** The pairing actor p1 reached a final state: the node releases it. */
const pairingDone = { type: 'xstate.done.actor.pairing:p1', actorId: 'pairing:p1' } as const

/** What the outside world can send the node, one of each event type it accepts (checked below by coverage). */
const fixtures: EventObject[] = [
  { type: 'node.stop' },
  { type: 'node.addrs', addrs: ['/ip4/127.0.0.1/tcp/4002'] },
  { type: 'node.connections', count: 2 },
  { type: 'node.crashed', error: 'transport closed unexpectedly' },
  { type: 'peers.route', peerId: 'peerB', input: { alias: 'm', peerId: 'peerB', backoff: input.backoff }, spawn: true },
  { type: 'peers.release', peerId: 'peerB' },
  { type: 'peers.broadcast', event: { type: 'peer.networkBack' } },
  { type: 'topics.ensure', topic: 'chat', meshTimeoutMs: 1_000, reprovideMs: 60_000 },
  { type: 'topics.release', topic: 'chat' },
  { type: 'channels.ensure', peerId: 'peerB', protocol: '/p2p-webapp/1.0.0', idleMs: 30_000, retryWindowMs: 5_000 },
  { type: 'pairings.start', input: pairingInput },
].filter((e) => (nodeMachine.events as readonly string[]).includes(e.type))

/** Where each event comes from in the real system. */
const fromLibp2p = new Set(['node.addrs', 'node.connections', 'node.crashed'])
const fromPeerEvents = new Set(['peers.route', 'peers.release', 'peers.broadcast'])

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
      pairings: c.pairings.length,
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
    if (c.pairings.includes('pairing:p1') && snapshot.value === 'running') events.push(pairingDone)
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
    if (event.type === 'pairings.start') {
      world.pairingsWanted.add('pairing:p1')
      return actor.send(event as NodeEvent)
    }
    if (event.type === pairingDone.type) {
      world.pairingsWanted.delete('pairing:p1')
      return world.finishChild('pairing:p1')
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
