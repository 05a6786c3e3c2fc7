import { assign, fromCallback, fromPromise, setup } from 'xstate'
import type { PruneRound, PrunerContext, PrunerEvent, PrunerInput } from './pruner.types.ts'

/** What a finished round leaves in the context. */
function recordRound(context: PrunerContext, round: PruneRound): Partial<PrunerContext> {
  return { lastRound: round, pruned: context.pruned + round.closed, rounds: context.rounds + 1, lastError: null }
}

/**
 * The connection pruner of one local node (js-libp2p 3 has no Protect, so protection is ours):
 * idle while the connection count is at or below the high watermark; pruning runs one round that
 * closes the lowest-value unprotected connections down to the low watermark, never one in its
 * grace period; grace waits until the youngest spared connection matures, then looks again.
 * Rounds never overlap: a connection above the watermark during a round asks for another.
 */
export const prunerMachine = setup({
  types: {
    context: {} as PrunerContext,
    events: {} as PrunerEvent,
    input: {} as PrunerInput,
  },
  actors: {
    /** libp2p's connection:open/close, as pruner.connections with the open count (one at start). */
    watchConnections: fromCallback<PrunerEvent, { alias: string }>(() => () => {}),
    /** One round: plan from the live connections and tags, close the chosen ones, report. */
    pruneRound: fromPromise<PruneRound, PrunerInput>(async () => ({ closed: 0, protected: 0, young: 0, recheckInMs: null })),
  },
  delays: {
    graceOver: ({ context }) => context.lastRound?.recheckInMs ?? 0,
  },
  guards: {
    aboveHigh: ({ context }) => context.connections > context.high,
    eventAboveHigh: ({ context, event }) => event.type === 'pruner.connections' && event.count > context.high,
    /** A connection opened (the count rose) above the watermark: a close during a round is not a reason for another. */
    openedAboveHigh: ({ context, event }) =>
      event.type === 'pruner.connections' && event.count > context.high && event.count > context.connections,
    again: ({ context }) => context.again,
  },
  actions: {
    count: assign({ connections: ({ context, event }) => (event.type === 'pruner.connections' ? event.count : context.connections) }),
    askAgain: assign({ again: true }),
  },
}).createMachine({
  id: 'pruner',
  context: ({ input }) => ({ ...input, connections: 0, pruned: 0, rounds: 0, again: false, lastRound: null, lastError: null }),
  invoke: { src: 'watchConnections', input: ({ context }) => ({ alias: context.alias }) },
  on: {
    'pruner.stop': '.stopped',
  },
  initial: 'idle',
  states: {
    idle: {
      description: 'At or below the high watermark: nothing to do until a connection opens above it.',
      on: {
        'pruner.connections': [{ guard: 'eventAboveHigh', target: 'pruning', actions: 'count' }, { actions: 'count' }],
        'pruner.check': { guard: 'aboveHigh', target: 'pruning' },
      },
    },
    pruning: {
      description:
        'One round: closes the lowest-value connections (by peer-store tags, then fewest streams, inbound first, newest first) down to the low watermark; added and known peers and connections in their grace period are spared.',
      entry: assign({ again: false }),
      invoke: {
        src: 'pruneRound',
        input: ({ context }) => ({ alias: context.alias, high: context.high, low: context.low, graceMs: context.graceMs }),
        onDone: [
          {
            guard: 'again',
            target: 'pruning',
            reenter: true,
            actions: assign(({ context, event }) => recordRound(context, event.output)),
          },
          {
            target: 'grace',
            guard: ({ event }) => event.output.recheckInMs !== null,
            actions: assign(({ context, event }) => recordRound(context, event.output)),
          },
          {
            target: 'idle',
            actions: assign(({ context, event }) => recordRound(context, event.output)),
          },
        ],
        onError: {
          target: 'idle',
          actions: assign({ lastError: ({ event }) => (event.error instanceof Error ? event.error.message : String(event.error)) }),
        },
      },
      on: {
        'pruner.connections': [{ guard: 'openedAboveHigh', actions: ['count', 'askAgain'] }, { actions: 'count' }],
        'pruner.check': { guard: 'aboveHigh', actions: 'askAgain' },
      },
    },
    grace: {
      description: 'A round spared connections in their grace period; when the youngest matures, looks again.',
      after: {
        graceOver: [{ guard: 'aboveHigh', target: 'pruning' }, { target: 'idle' }],
      },
      on: {
        'pruner.connections': [{ guard: 'eventAboveHigh', target: 'pruning', actions: 'count' }, { actions: 'count' }],
        'pruner.check': { guard: 'aboveHigh', target: 'pruning' },
      },
    },
    stopped: {
      description: 'Stopped with its node.',
      type: 'final',
    },
  },
})

/** Client-facing view of the context: JSON-safe, no refs. */
export function prunerPublicContext(context: PrunerContext) {
  return {
    alias: context.alias,
    high: context.high,
    low: context.low,
    graceMs: context.graceMs,
    connections: context.connections,
    pruned: context.pruned,
    rounds: context.rounds,
    lastRound: context.lastRound,
    lastError: context.lastError,
  }
}
