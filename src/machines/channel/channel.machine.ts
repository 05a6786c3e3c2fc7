import { assign, fromPromise, setup } from 'xstate'
import { jitterFactor } from '../peer/peer.machine.ts'
import type { ChannelContext, ChannelEvent, ChannelInput, OpenResult } from './channel.types.ts'

export const CHANNEL_BACKOFF_INITIAL_MS = 250
export const CHANNEL_BACKOFF_MAX_MS = 5_000

/** The pause before the next stream after `failures` attempts in a row: capped exponential, with the peer's jitter. */
export function channelBackoffMs(context: Pick<ChannelContext, 'peerId' | 'failures'>): number {
  const failures = Math.max(1, context.failures)
  return Math.min(CHANNEL_BACKOFF_MAX_MS, CHANNEL_BACKOFF_INITIAL_MS * 2 ** (failures - 1)) * jitterFactor(context.peerId, failures)
}

/** How often idle streams are looked for: half the idle time, between 50 ms and 5 s. */
export const channelSweepMs = (context: Pick<ChannelContext, 'idleMs'>) => Math.max(50, Math.min(context.idleMs / 2, 5_000))

/** Unused this long (and without streams), a channel is forgotten; ids it delivered must outlive a sender's retries. */
export const channelForgetMs = (context: Pick<ChannelContext, 'idleMs' | 'retryWindowMs'>) =>
  Math.max(context.idleMs, context.retryWindowMs)

type Ended = Extract<ChannelEvent, { type: 'channel.ended' }>
const ended = (event: ChannelEvent): Ended | undefined => (event.type === 'channel.ended' ? event : undefined)

/**
 * One remote peer and one protocol, as seen from one local node: whether a stream carries the
 * ordered queue of outgoing messages, is being opened, or waits out a backoff while the peer is
 * unreachable. The messages themselves (queue, batches, acks, the retry window of each) stay
 * outside the machine, in the channel's effects: only what changes the channel's state comes in.
 */
export const channelMachine = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as ChannelInput,
  },
  actors: {
    /** Open a stream to the peer and make it the carrier; rejects when the peer cannot be reached. */
    openStream: fromPromise<OpenResult, { alias: string; peerId: string; protocol: string }>(async () => {
      throw new Error('openStream is not bound')
    }),
  },
  actions: {
    /** Write every waiting message on the carrier, in order, in batches. */
    pump: () => {},
    /** Close outbound streams with nothing in flight and no traffic for idleMs; drop streams that died unnoticed. */
    sweepStreams: () => {},
    /** Give up every waiting message with `reason` (delivered: false). */
    failAll: (_, _params: { reason: string }) => {},
    /** The node stops: waiting messages fail with `reason`, every stream of the pair closes. */
    closeAll: (_, _params: { reason: string }) => {},
    /** The channel is over: its node forgets it (a later message starts a new one). */
    release: () => {},
    countStreams: assign({ streams: ({ context, event }) => ('streams' in event ? event.streams : context.streams) }),
    noteEnded: assign(({ context, event }) => {
      const e = ended(event)
      if (!e) return {}
      const next = { streams: e.streams, waiting: e.unsent }
      if (e.lost === 0) return next
      return {
        ...next,
        failures: context.failures + 1,
        lastError: `stream to ${context.peerId} closed before ${e.lost} message(s) were acknowledged`,
      }
    }),
    resetFailures: assign({ failures: 0 }),
    progress: assign({ failures: 0, lastError: null }),
    wanted: assign({ waiting: true }),
    drained: assign({ waiting: false }),
  },
  delays: {
    backoff: ({ context }) => channelBackoffMs(context),
    sweep: ({ context }) => channelSweepMs(context),
    forget: ({ context }) => channelForgetMs(context),
  },
  guards: {
    hasFailed: ({ context }) => context.failures > 0,
    waiting: ({ context }) => context.waiting,
    hasStreams: ({ context }) => context.streams > 0,
    noStreams: ({ context }) => context.streams === 0,
    /** The carrier ended with messages to resend, after a failure (this one or an earlier one): back off first. */
    carrierEndedAfterFailure: ({ context, event }) => {
      const e = ended(event)
      return e?.carrier === true && e.unsent && (e.lost > 0 || context.failures > 0)
    },
    carrierEndedWithUnsent: ({ event }) => {
      const e = ended(event)
      return e?.carrier === true && e.unsent
    },
    carrierEnded: ({ event }) => ended(event)?.carrier === true,
    opened: (_, output: OpenResult) => output.kind === 'open',
    refused: (_, output: OpenResult) => output.kind === 'refused',
  },
}).createMachine({
  id: 'channel',
  context: ({ input }) => ({ ...input, failures: 0, lastError: null, streams: 0, waiting: false }),
  initial: 'idle',
  on: {
    'channel.progress': { actions: 'progress' },
    'channel.streams': { actions: 'countStreams' },
    'channel.close': {
      target: '.closed',
      actions: { type: 'closeAll', params: ({ event }) => ({ reason: event.reason }) },
    },
  },
  states: {
    idle: {
      description:
        'No message waits and no stream carries them (streams the remote opened may still be open). Left alone with no stream for the longer of the idle time and the retry window, the channel is forgotten.',
      after: {
        sweep: { guard: 'hasStreams', target: 'idle', reenter: true, actions: 'sweepStreams' },
        forget: { guard: 'noStreams', target: 'closed' },
      },
      on: {
        'channel.wanted': [
          { guard: 'hasFailed', target: 'retrying', actions: 'wanted' },
          { target: 'opening', actions: 'wanted' },
        ],
        'channel.adopted': { target: 'open', actions: ['resetFailures', 'pump'] },
        'channel.streams': { target: 'idle', reenter: true, actions: 'countStreams' },
        'channel.ended': { target: 'idle', reenter: true, actions: 'noteEnded' },
      },
    },
    opening: {
      description:
        'Messages wait: opening a stream to the peer, dialling it through its peer actor first when there is no connection. A stream the remote opens meanwhile is used at once.',
      invoke: {
        src: 'openStream',
        input: ({ context }) => ({ alias: context.alias, peerId: context.peerId, protocol: context.protocol }),
        onDone: [
          { guard: { type: 'opened', params: ({ event }) => event.output }, target: 'open', actions: 'pump' },
          {
            guard: { type: 'refused', params: ({ event }) => event.output },
            target: 'idle',
            actions: [
              {
                type: 'failAll',
                params: ({ context, event }) => ({
                  reason: `peer ${context.peerId} does not handle ${context.protocol}: it is not started there (${'error' in event.output ? event.output.error : ''})`,
                }),
              },
              'drained',
            ],
          },
          {
            target: 'retrying',
            actions: assign({
              failures: ({ context }) => context.failures + 1,
              lastError: ({ event }) => ('error' in event.output ? event.output.error : null),
            }),
          },
        ],
        onError: {
          target: 'retrying',
          actions: assign({
            failures: ({ context }) => context.failures + 1,
            lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)),
          }),
        },
      },
      on: {
        'channel.wanted': { actions: 'wanted' },
        'channel.drained': { actions: 'drained' },
        'channel.adopted': { target: 'open', actions: ['resetFailures', 'pump'] },
        'channel.ended': [
          { guard: 'carrierEndedAfterFailure', target: 'retrying', actions: 'noteEnded' },
          { guard: 'carrierEndedWithUnsent', target: 'opening', reenter: true, actions: 'noteEnded' },
          { guard: 'carrierEnded', target: 'idle', actions: 'noteEnded' },
          { actions: 'noteEnded' },
        ],
      },
    },
    retrying: {
      description:
        'The last attempt failed (failures in a row, lastError says why): waiting out a capped exponential backoff with jitter (250 ms doubling to 5 s) before opening again, cut short when the peer connects. Messages still waiting past the retry window are given up with delivered: false and the reason.',
      after: {
        backoff: [{ guard: 'waiting', target: 'opening' }, { target: 'idle' }],
      },
      on: {
        'channel.wanted': { actions: 'wanted' },
        'channel.drained': { actions: 'drained' },
        'channel.wake': [{ guard: 'waiting', target: 'opening' }, { target: 'idle' }],
        'channel.adopted': { target: 'open', actions: ['resetFailures', 'pump'] },
        'channel.ended': { actions: 'noteEnded' },
      },
    },
    open: {
      description:
        'A stream (ours, or one the remote opened) carries the messages in order, in batches; each waits for its ack, and one unacknowledged past the retry window is given up. An outbound stream with nothing in flight and no traffic for idleMs is closed, which leaves the channel idle.',
      after: {
        sweep: { target: 'open', reenter: true, actions: 'sweepStreams' },
      },
      on: {
        'channel.adopted': { actions: ['resetFailures', 'pump'] },
        'channel.ended': [
          { guard: 'carrierEndedAfterFailure', target: 'retrying', actions: 'noteEnded' },
          { guard: 'carrierEndedWithUnsent', target: 'opening', actions: 'noteEnded' },
          { guard: 'carrierEnded', target: 'idle', actions: 'noteEnded' },
          { actions: 'noteEnded' },
        ],
      },
    },
    closed: {
      description: 'Forgotten after a long idle time, or its node stopped (waiting messages were given up, streams closed).',
      type: 'final',
      entry: 'release',
    },
  },
})

export function channelPublicContext(context: ChannelContext) {
  return {
    alias: context.alias,
    peerId: context.peerId,
    protocol: context.protocol,
    failures: context.failures,
    lastError: context.lastError,
    streams: context.streams,
  }
}
