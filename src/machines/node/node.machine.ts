import { assign, enqueueActions, fromCallback, fromPromise, sendTo, setup } from 'xstate'
import { channelMachine } from '../channel/channel.machine.ts'
import { pairingMachine } from '../pairing/pairing.machine.ts'
import { dhtMachine } from '../dht/dht.machine.ts'
import { childIds, shardOf, systemIds } from '../actor-ids.ts'
import { peersMachine } from '../peers/peers.machine.ts'
import { presenceMachine } from '../presence/presence.machine.ts'
import { prunerMachine } from '../pruner/pruner.machine.ts'
import { relayMachine } from '../relay/relay.machine.ts'
import { topicMachine } from '../topic/topic.machine.ts'
import type { NodeContext, NodeEvent, NodeInput, NodeStarted } from './node.types.ts'

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * One local libp2p + Helia node. The real node is built and torn down by the `createNode` and
 * `stopNode` actors; the machine spawns the node's DHT actor once it runs.
 */
export const nodeMachine = setup({
  types: {
    context: {} as NodeContext,
    events: {} as NodeEvent,
    input: {} as NodeInput,
  },
  actors: {
    createNode: fromPromise<NodeStarted, { alias: string }>(async () => {
      throw new Error('createNode is not bound')
    }),
    stopNode: fromPromise<void, { alias: string }>(async () => {}),
    /** libp2p events that concern the node as a whole: address changes, connection count. */
    watchNode: fromCallback<NodeEvent, { alias: string }>(() => () => {}),
    /** libp2p's peer and connection events, turned into peers.route events: the one place they enter. */
    watchPeers: fromCallback<NodeEvent, { alias: string; backoff: NodeInput['backoff'] }>(() => () => {}),
    dht: dhtMachine,
    peers: peersMachine,
    topic: topicMachine,
    presence: presenceMachine,
    pruner: prunerMachine,
    relay: relayMachine,
    channel: channelMachine,
    pairing: pairingMachine,
  },
  actions: {
    /** Told to the supervisor; bound with sendParent there, a no-op alone. */
    reportStopped: (_, _params: { alias: string; error?: string; started?: boolean }) => {},
    spawnDht: enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('dht', {
        id: childIds.dht,
        systemId: systemIds.dht(context.alias),
        input: {
          alias: context.alias,
          bootstrapTimeoutMs: context.dhtBootstrapTimeoutMs,
          queueLimit: context.dhtQueueLimit,
          concurrency: context.dhtConcurrency,
        },
      })
      enqueue.sendTo(childIds.dht, { type: 'dht.bootstrap' })
    }),
    /** The node's presence and its connection pruner: long-lived, one each, for as long as it runs. */
    spawnKeepers: enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('presence', {
        id: childIds.presence,
        systemId: systemIds.presence(context.alias),
        input: { alias: context.alias },
      })
      if (context.relay && context.persistent)
        enqueue.spawnChild('relay', {
          id: childIds.relay,
          systemId: systemIds.relay(context.alias),
          input: { alias: context.alias, limits: context.relay },
        })
      if (context.pruner)
        enqueue.spawnChild('pruner', {
          id: childIds.pruner,
          systemId: systemIds.pruner(context.alias),
          input: { alias: context.alias, ...context.pruner },
        })
    }),
    ensureTopic: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'topics.ensure') return
      const id = childIds.topic(event.topic)
      if (context.topics.includes(event.topic)) {
        enqueue.sendTo(id, { type: 'topic.retain' })
        return
      }
      enqueue.spawnChild('topic', {
        id,
        systemId: systemIds.topic(context.alias, event.topic),
        input: { alias: context.alias, topic: event.topic, meshTimeoutMs: event.meshTimeoutMs, reprovideMs: event.reprovideMs },
      })
      enqueue.assign({ topics: [...context.topics, event.topic] })
    }),
    releaseTopic: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'topics.release' || !context.topics.includes(event.topic)) return
      enqueue.sendTo(childIds.topic(event.topic), { type: 'topic.release' })
    }),
    /** A topic actor that has left is released, so the next subscribe spawns a fresh one. */
    topicLeft: enqueueActions(({ context, event, enqueue }) => {
      if (!('actorId' in event)) return
      const topic = childIds.topicOf(event.actorId)
      if (topic === undefined) return
      enqueue.stopChild(event.actorId)
      enqueue.assign({ topics: context.topics.filter((t) => t !== topic) })
    }),
    ensureChannel: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'channels.ensure') return
      const id = childIds.channel(event.peerId, event.protocol)
      if (context.channels.includes(id)) return
      enqueue.spawnChild('channel', {
        id,
        systemId: systemIds.channel(context.alias, event.peerId, event.protocol),
        input: {
          alias: context.alias,
          peerId: event.peerId,
          protocol: event.protocol,
          idleMs: event.idleMs,
          retryWindowMs: event.retryWindowMs,
        },
      })
      enqueue.assign({ channels: [...context.channels, id] })
    }),
    /** A channel actor that closed is released; the next message to that peer and protocol spawns a fresh one. */
    channelClosed: enqueueActions(({ context, event, enqueue }) => {
      if (!('actorId' in event) || !childIds.isChannel(event.actorId)) return
      enqueue.stopChild(event.actorId)
      enqueue.assign({ channels: context.channels.filter((c) => c !== event.actorId) })
    }),
    startPairing: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'pairings.start') return
      const id = childIds.pairing(event.input.pairingId)
      if (context.pairings.includes(id)) return
      enqueue.spawnChild('pairing', { id, systemId: systemIds.pairing(context.alias, event.input.pairingId), input: event.input })
      enqueue.assign({ pairings: [...context.pairings, id] })
    }),
    /** A finished pairing is released: its outcome was pushed, and the known peer (if any) lives on in its peer actor. */
    pairingDone: enqueueActions(({ context, event, enqueue }) => {
      if (!('actorId' in event) || !childIds.isPairing(event.actorId)) return
      enqueue.stopChild(event.actorId)
      enqueue.assign({ pairings: context.pairings.filter((p) => p !== event.actorId) })
    }),
    /** Hand a peer event to its shard, spawning the shard on first use. */
    routeToShard: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.route' && event.type !== 'peers.release') return
      const shard = shardOf(event.peerId)
      const id = childIds.peers(shard)
      if (!context.peerShards.includes(shard)) {
        if (event.type === 'peers.release') return
        enqueue.spawnChild('peers', { id, systemId: systemIds.peers(context.alias, shard), input: { alias: context.alias, shard } })
        enqueue.assign({ peerShards: [...context.peerShards, shard] })
      }
      enqueue.sendTo(id, event)
    }),
    /** Hand an event for every peer actor to every shard. */
    broadcastToShards: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.broadcast') return
      for (const shard of context.peerShards) enqueue.sendTo(childIds.peers(shard), event)
    }),
  },
}).createMachine({
  id: 'node',
  context: ({ input }) => ({ ...input, addrs: [], connections: 0, peerShards: [], topics: [], channels: [], pairings: [] }),
  initial: 'starting',
  states: {
    starting: {
      description: 'Building the libp2p node, Helia and their stores.',
      invoke: {
        src: 'createNode',
        input: ({ context }) => ({ alias: context.alias }),
        onDone: {
          target: 'running',
          actions: assign({ peerId: ({ event }) => event.output.peerId, addrs: ({ event }) => event.output.addrs }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => errorMessage(event.error) }) },
      },
      on: { 'node.stop': 'stopping' },
    },
    running: {
      description: 'Listening; its DHT actor bootstraps and serves queued operations.',
      entry: ['spawnDht', 'spawnKeepers'],
      // the DHT lives only while running: a stop during starting has no DHT to tell
      exit: [
        sendTo(childIds.dht, { type: 'dht.stop' }),
        sendTo(childIds.presence, { type: 'presence.stop' }),
        enqueueActions(({ context, enqueue }) => {
          if (context.pruner) enqueue.sendTo(childIds.pruner, { type: 'pruner.stop' })
          if (context.relay && context.persistent) enqueue.sendTo(childIds.relay, { type: 'relay.stop' })
        }),
      ],
      invoke: [
        { src: 'watchNode', input: ({ context }) => ({ alias: context.alias }) },
        { src: 'watchPeers', input: ({ context }) => ({ alias: context.alias, backoff: context.backoff }) },
      ],
      on: {
        'peers.route': { actions: 'routeToShard' },
        'peers.release': { actions: 'routeToShard' },
        'peers.broadcast': { actions: 'broadcastToShards' },
        'topics.ensure': { actions: 'ensureTopic' },
        'topics.release': { actions: 'releaseTopic' },
        'channels.ensure': { actions: 'ensureChannel' },
        'pairings.start': { actions: 'startPairing' },
        'xstate.done.actor.*': { actions: ['topicLeft', 'channelClosed', 'pairingDone'] },
        'node.addrs': { actions: assign({ addrs: ({ event }) => event.addrs }) },
        'node.connections': { actions: assign({ connections: ({ event }) => event.count }) },
        'node.stop': 'stopping',
        'node.crashed': { target: 'stopping', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    stopping: {
      description: 'Stopping the DHT (rejecting queued operations), then libp2p, Helia and the stores.',
      invoke: {
        src: 'stopNode',
        input: ({ context }) => ({ alias: context.alias }),
        onDone: [{ guard: ({ context }) => context.error !== undefined, target: 'failed' }, { target: 'stopped' }],
        onError: { target: 'failed', actions: assign({ error: ({ event }) => errorMessage(event.error) }) },
      },
    },
    stopped: {
      description: 'Stopped cleanly; every port and store is released.',
      type: 'final',
      entry: { type: 'reportStopped', params: ({ context }) => ({ alias: context.alias }) },
    },
    failed: {
      description: 'Could not start, or crashed; `error` says why. The supervisor decides on a restart.',
      type: 'final',
      entry: {
        type: 'reportStopped',
        params: ({ context }) => ({ alias: context.alias, error: context.error, started: context.peerId !== undefined }),
      },
    },
  },
})

export function nodePublicContext(context: NodeContext) {
  return {
    alias: context.alias,
    persistent: context.persistent,
    peerId: context.peerId ?? null,
    addrs: context.addrs,
    connections: context.connections,
    error: context.error ?? null,
  }
}
