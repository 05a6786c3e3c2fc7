import { assign, emit, enqueueActions, fromCallback, fromPromise, setup } from 'xstate'
import type { TopicContext, TopicEmitted, TopicEvent, TopicInput } from './topic.types.ts'

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * One GossipSub topic of one local node, shared by every connection subscribed to it. Joining
 * subscribes; meshForming waits (bounded) for a first topic peer; subscribed monitors joins and
 * leaves and keeps the topic discoverable through the DHT; the last release leaves.
 */
export const topicMachine = setup({
  types: {
    context: {} as TopicContext,
    events: {} as TopicEvent,
    input: {} as TopicInput,
    emitted: {} as TopicEmitted,
  },
  actors: {
    join: fromPromise<string[], { alias: string; topic: string }>(async () => []),
    leave: fromPromise<void, { alias: string; topic: string }>(async () => {}),
    /** GossipSub subscription changes and disconnects for this topic, as topic.peerJoined / peerLeft. */
    watchTopic: fromCallback<TopicEvent, { alias: string; topic: string }>(() => () => {}),
    /** Provide the topic's CID on the DHT (renewed every reprovideMs), look providers up once and dial them. */
    discover: fromCallback<TopicEvent, { alias: string; topic: string; reprovideMs: number }>(() => () => {}),
  },
  delays: {
    meshTimeout: ({ context }) => context.meshTimeoutMs,
  },
  guards: {
    hasPeers: ({ context }) => context.peers.length > 0,
    lastRef: ({ context }) => context.refs <= 1,
    noRefs: ({ context }) => context.refs === 0,
  },
  actions: {
    peerJoined: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'topic.peerJoined' || context.peers.includes(event.peerId)) return
      enqueue.assign({ peers: [...context.peers, event.peerId] })
      enqueue(emit({ type: 'topic.peerChange', topic: context.topic, peerId: event.peerId, joined: true }))
    }),
    peerLeft: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'topic.peerLeft' || !context.peers.includes(event.peerId)) return
      enqueue.assign({ peers: context.peers.filter((p) => p !== event.peerId) })
      enqueue(emit({ type: 'topic.peerChange', topic: context.topic, peerId: event.peerId, joined: false }))
    }),
    retain: assign({ refs: ({ context }) => context.refs + 1 }),
    release: assign({ refs: ({ context }) => Math.max(0, context.refs - 1) }),
  },
}).createMachine({
  id: 'topic',
  context: ({ input }) => ({ ...input, refs: 1, peers: [], meshTimedOut: false, lastError: null }),
  initial: 'joining',
  states: {
    joining: {
      description: 'Subscribing to the topic on GossipSub.',
      invoke: {
        src: 'join',
        input: ({ context }) => ({ alias: context.alias, topic: context.topic }),
        onDone: [
          // every connection released while the join was in flight: leave again at once
          { guard: 'noRefs', target: 'leaving' },
          {
            target: 'joined',
            // peers already subscribed count as present without an event: the topics extension announces them to each subscriber
            actions: assign({ peers: ({ event }) => event.output }),
          },
        ],
        onError: { target: 'left', actions: assign({ lastError: ({ event }) => errorMessage(event.error) }) },
      },
      on: { 'topic.retain': { actions: 'retain' }, 'topic.release': { actions: 'release' } },
    },
    joined: {
      description: 'Subscribed on GossipSub; joins and leaves of topic peers are tracked and pushed as peerChange.',
      invoke: { src: 'watchTopic', input: ({ context }) => ({ alias: context.alias, topic: context.topic }) },
      on: {
        'topic.peerJoined': { actions: 'peerJoined' },
        'topic.peerLeft': { actions: 'peerLeft' },
        'topic.retain': { actions: 'retain' },
        'topic.release': [{ guard: 'lastRef', target: 'leaving', actions: 'release' }, { actions: 'release' }],
      },
      initial: 'meshForming',
      states: {
        meshForming: {
          description: 'Waits until a topic peer appears (or the mesh timeout passes) so a first publish reaches someone.',
          always: { guard: 'hasPeers', target: 'subscribed' },
          after: { meshTimeout: { target: 'subscribed', actions: assign({ meshTimedOut: true }) } },
        },
        subscribed: {
          description: 'Joined; the topic is kept discoverable on the DHT and its providers were dialled.',
          invoke: {
            src: 'discover',
            input: ({ context }) => ({ alias: context.alias, topic: context.topic, reprovideMs: context.reprovideMs }),
          },
        },
      },
    },
    leaving: {
      description:
        'The last connection left: unsubscribing and stopping DHT advertisement. A connection that subscribes meanwhile makes it join again once left.',
      invoke: {
        src: 'leave',
        input: ({ context }) => ({ alias: context.alias, topic: context.topic }),
        onDone: [
          { guard: 'noRefs', target: 'left' },
          { target: 'joining', actions: assign({ peers: [], meshTimedOut: false }) },
        ],
        onError: { target: 'left', actions: assign({ lastError: ({ event }) => errorMessage(event.error) }) },
      },
      on: { 'topic.retain': { actions: 'retain' }, 'topic.release': { actions: 'release' } },
    },
    left: { description: 'Unsubscribed; the actor is released by its node.', type: 'final' },
  },
})

export function topicPublicContext(context: TopicContext) {
  return {
    alias: context.alias,
    topic: context.topic,
    refs: context.refs,
    peers: context.peers,
    meshTimedOut: context.meshTimedOut,
    lastError: context.lastError,
  }
}
