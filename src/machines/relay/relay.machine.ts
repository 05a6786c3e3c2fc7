import { assign, fromCallback, setup } from 'xstate'
import type { RelayContext, RelayEvent, RelayInput } from './relay.types.ts'

/**
 * The circuit relay (v2) server of one node, as browsers and peers behind NAT use it: idle with
 * nobody reserved, reserved while peers hold reservations (their /p2p-circuit addresses point at
 * us), relaying while at least one relayed connection is open. The counts come from the relay
 * service itself (the `watchRelay` actor samples them), so the state is what libp2p holds.
 */
export const relayMachine = setup({
  types: {
    context: {} as RelayContext,
    events: {} as RelayEvent,
    input: {} as RelayInput,
  },
  actors: {
    /** Reports relay.stats whenever the reservations or open circuits change. */
    watchRelay: fromCallback<RelayEvent, { alias: string }>(() => () => {}),
  },
  guards: {
    relaying: ({ context }) => context.circuits > 0,
    reserved: ({ context }) => context.reservations > 0,
  },
}).createMachine({
  id: 'relay',
  context: ({ input }) => ({ ...input, reservations: 0, circuits: 0, circuitsTotal: 0 }),
  initial: 'on',
  states: {
    on: {
      invoke: { src: 'watchRelay', input: ({ context }) => ({ alias: context.alias }) },
      on: {
        'relay.stats': {
          actions: assign(({ event }) => ({
            reservations: event.reservations,
            circuits: event.circuits,
            circuitsTotal: event.circuitsTotal,
          })),
        },
        'relay.stop': 'stopped',
      },
      initial: 'idle',
      states: {
        idle: {
          description: 'Nobody holds a reservation and nothing is relayed.',
          always: [
            { guard: 'relaying', target: 'relaying' },
            { guard: 'reserved', target: 'reserved' },
          ],
        },
        reserved: {
          description: 'Peers hold reservations: their relay addresses go through this node. Nothing is relayed right now.',
          always: [
            { guard: 'relaying', target: 'relaying' },
            { guard: ({ context }) => context.reservations === 0, target: 'idle' },
          ],
        },
        relaying: {
          description: 'At least one relayed connection is open (usually only until the two sides upgrade to a direct or WebRTC one).',
          always: [
            { guard: ({ context }) => context.circuits === 0 && context.reservations > 0, target: 'reserved' },
            { guard: ({ context }) => context.circuits === 0, target: 'idle' },
          ],
        },
      },
    },
    stopped: { type: 'final', description: 'The node stopped; reservations and circuits went with it.' },
  },
})

export function relayPublicContext(context: RelayContext) {
  return {
    alias: context.alias,
    limits: context.limits,
    reservations: context.reservations,
    circuits: context.circuits,
    circuitsTotal: context.circuitsTotal,
  }
}
