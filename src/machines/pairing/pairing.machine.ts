import { assign, fromPromise, setup } from 'xstate'
import type { HandshakeResult, PairingContext, PairingEvent, PairingFailure, PairingInput } from './pairing.types.ts'

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** The failure kind an effect's error names (effects throw errors with a `failure` field), else 'error'. */
export function failureOf(error: unknown): PairingFailure {
  const kind = (error as { failure?: unknown } | null)?.failure
  return kind === 'gone' || kind === 'refused' || kind === 'unreachable' || kind === 'timeout' ? kind : 'error'
}

const fromJoiner = ({ context, event }: { context: PairingContext; event: PairingEvent }) =>
  'peerId' in event && event.peerId === context.peerId

/**
 * One pairing of two devices by ticket, from one side. The initiator made the ticket and waits for
 * a joiner who proves it holds the ticket's secret (challenge and response, the secret never
 * sent); the joiner dials the peer the ticket names and runs the handshake. Both remember the other
 * as a known peer only once both proofs passed and the joiner confirmed. The secret itself never
 * enters the machine: the pairing protocol's effects hold it.
 */
const pairingSetup = setup({
  types: {
    context: {} as PairingContext,
    events: {} as PairingEvent,
    input: {} as PairingInput,
  },
  actors: {
    /** Joiner: reach the initiator at the ticket's addresses. */
    dial: fromPromise<void, { alias: string; peerId: string; pairingId: string }>(async () => {
      throw new Error('dial is not bound')
    }),
    /** Joiner: prove the secret, check the initiator's proof, exchange names, confirm. */
    handshake: fromPromise<HandshakeResult, { alias: string; peerId: string; pairingId: string; name: string }>(async () => {
      throw new Error('handshake is not bound')
    }),
    /** Both: keep the other side as a known peer (name, ticket, autoConnect), on disk before it resolves. */
    remember: fromPromise<void, { alias: string; peerId: string; pairingId: string; peerName: string }>(async () => {
      throw new Error('remember is not bound')
    }),
  },
  delays: {
    ttl: ({ context }) => context.ttlMs,
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
  },
  guards: {
    isInitiator: ({ context }) => context.role === 'initiator',
    fromJoiner,
    validProof: ({ context, event }) => event.type === 'pairing.proofChecked' && event.valid && fromJoiner({ context, event }),
    lastWrongProof: ({ context, event }) =>
      event.type === 'pairing.proofChecked' && fromJoiner({ context, event }) && context.wrongProofs + 1 >= context.maxWrongProofs,
  },
  actions: {
    saveFailed: assign({
      failure: 'error',
      error: ({ event }) => `cannot save the paired peer: ${errorMessage((event as unknown as { error: unknown }).error)}`,
    }),
    /** A wrong proof costs the peer that sent it reputation (bound to the reputation store). */
    penalize: (_, _params: { peerId: string }) => {},
  },
})

/** What both roles save of the other side once the pairing holds. */
const rememberInput = ({ context }: { context: PairingContext }) => ({
  alias: context.alias,
  peerId: context.peerId ?? '',
  pairingId: context.pairingId,
  peerName: context.peerName ?? '',
})

export const pairingMachine = pairingSetup.createMachine({
  id: 'pairing',
  context: ({ input }) => ({
    ...input,
    peerId: input.peerId ?? null,
    peerName: null,
    wrongProofs: 0,
    failure: null,
    error: null,
  }),
  initial: 'start',
  states: {
    start: {
      description: 'Picks the role the pairing was made for.',
      always: [{ guard: 'isInitiator', target: 'initiator' }, { target: 'joiner' }],
    },
    initiator: {
      description: 'This device made the ticket. It expires ttlMs after it was made, whatever step it is in.',
      initial: 'waiting',
      after: { ttl: { target: 'expired', actions: assign({ error: 'the ticket expired' }) } },
      on: { 'pairing.cancel': { target: 'cancelled', actions: assign({ error: 'cancelled' }) } },
      states: {
        waiting: {
          description: 'The ticket is out; no joiner is in the handshake.',
          entry: assign({ peerId: null }),
          on: { 'pairing.joinerArrived': { target: 'verifying', actions: assign({ peerId: ({ event }) => event.peerId }) } },
        },
        verifying: {
          description: "A joiner opened the pairing protocol; its proof of the ticket's secret is being checked.",
          on: {
            'pairing.proofChecked': [
              { guard: 'validProof', target: 'confirming', actions: assign({ peerName: ({ event }) => event.name ?? '' }) },
              {
                guard: 'lastWrongProof',
                target: '#pairing.cancelled',
                actions: [
                  { type: 'penalize', params: ({ event }) => ({ peerId: event.peerId }) },
                  assign({ wrongProofs: ({ context }) => context.wrongProofs + 1, error: 'too many wrong proofs for this ticket' }),
                ],
              },
              {
                guard: 'fromJoiner',
                target: 'waiting',
                actions: [
                  { type: 'penalize', params: ({ event }) => ({ peerId: event.peerId }) },
                  assign({ wrongProofs: ({ context }) => context.wrongProofs + 1, error: 'a joiner sent a wrong proof' }),
                ],
              },
            ],
            'pairing.joinerLeft': {
              guard: 'fromJoiner',
              target: 'waiting',
              actions: assign({ error: ({ event }) => `the joiner left: ${event.error}` }),
            },
          },
        },
        confirming: {
          description: 'The proof held; our acceptance and our own proof went out, and the joiner must confirm.',
          on: {
            'pairing.confirmed': { guard: 'fromJoiner', target: 'saving' },
            'pairing.joinerLeft': {
              guard: 'fromJoiner',
              target: 'waiting',
              actions: assign({ peerName: null, error: ({ event }) => `the joiner left before confirming: ${event.error}` }),
            },
          },
        },
        saving: {
          description: 'Remembering the joiner as a known peer; the joiner is told once it is on disk.',
          invoke: {
            src: 'remember',
            input: rememberInput,
            onDone: { target: '#pairing.paired', actions: assign({ error: null }) },
            onError: { target: '#pairing.failed', actions: 'saveFailed' },
          },
        },
      },
    },
    joiner: {
      description: 'This device holds a ticket. The dial and the handshake together must finish within handshakeTimeoutMs.',
      initial: 'dialing',
      after: { handshakeTimeout: { target: 'failed', actions: assign({ failure: 'timeout', error: 'the pairing timed out' }) } },
      on: { 'pairing.cancel': { target: 'cancelled', actions: assign({ error: 'cancelled' }) } },
      states: {
        dialing: {
          description: "Reaching the peer the ticket names at the ticket's addresses.",
          invoke: {
            src: 'dial',
            input: ({ context }) => ({ alias: context.alias, peerId: context.peerId ?? '', pairingId: context.pairingId }),
            onDone: { target: 'handshaking' },
            onError: {
              target: '#pairing.failed',
              actions: assign({ failure: 'unreachable', error: ({ event }) => `cannot reach the device: ${errorMessage(event.error)}` }),
            },
          },
        },
        handshaking: {
          description: 'Proving the secret, checking the initiator proves it too, exchanging names, confirming.',
          invoke: {
            src: 'handshake',
            input: ({ context }) => ({
              alias: context.alias,
              peerId: context.peerId ?? '',
              pairingId: context.pairingId,
              name: context.name,
            }),
            onDone: { target: 'saving', actions: assign({ peerName: ({ event }) => event.output.peerName }) },
            onError: {
              target: '#pairing.failed',
              actions: assign({ failure: ({ event }) => failureOf(event.error), error: ({ event }) => errorMessage(event.error) }),
            },
          },
        },
        saving: {
          description: 'The initiator has remembered us; remembering it as a known peer.',
          invoke: {
            src: 'remember',
            input: rememberInput,
            onDone: { target: '#pairing.paired', actions: assign({ error: null }) },
            onError: { target: '#pairing.failed', actions: 'saveFailed' },
          },
        },
      },
    },
    paired: {
      type: 'final',
      description: 'Both sides know each other; the peer actor takes over (connect, sync, reconnect).',
    },
    expired: { type: 'final', description: 'The ticket expired before anyone paired with it.' },
    cancelled: { type: 'final', description: 'Cancelled by a client, or by too many wrong proofs.' },
    failed: { type: 'final', description: 'The pairing did not happen; failure and error say why.' },
  },
})

/** The leaf state name a client sees in `pairing.state` pushes (`waiting`, `handshaking`, `paired`...). */
export function pairingStateName(value: unknown): string {
  if (typeof value === 'string') return value
  const inner = Object.values(value as Record<string, unknown>)[0]
  return pairingStateName(inner)
}

/** What a client sees of a pairing; no secret is in the context to begin with. */
export function pairingPublicContext(context: PairingContext) {
  return {
    alias: context.alias,
    pairingId: context.pairingId,
    role: context.role,
    peerId: context.peerId,
    peerName: context.peerName,
    wrongProofs: context.wrongProofs,
    failure: context.failure,
    error: context.error,
  }
}
