import { type AnyStateNode, assign, fromCallback, fromPromise, type StateValue, setup } from 'xstate'
import type { DialResult, PeerContext, PeerEvent, PeerInput } from './peer.types.ts'

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** A stable spread in [0.5, 1.5) from the peer id and attempt, so peers retrying together drift apart. */
export function jitterFactor(peerId: string, attempt: number): number {
  let h = 2166136261 ^ attempt
  for (let i = 0; i < peerId.length; i++) h = Math.imul(h ^ peerId.charCodeAt(i), 16777619)
  return 0.5 + ((h >>> 0) % 1000) / 1000
}

/** Exponential backoff with jitter: under `initialMs * 1.5` for the first retry, capped at `maxMs`. */
export function retryDelay(context: Pick<PeerContext, 'peerId' | 'failures' | 'backoff'>): number {
  const base = context.backoff.initialMs * 2 ** Math.max(0, context.failures - 1)
  return Math.min(context.backoff.maxMs, Math.round(base * jitterFactor(context.peerId, context.failures)))
}

const wanted = (c: PeerContext) => !c.held && (c.added || (c.known && c.autoConnect))

/**
 * How long the end with the higher peer id waits for the other's dial after a network comes back
 * (`yielding`). Both ends retry at once then, and two dials crossing leave the pair with two
 * connections: twice the handshakes when every pair across a healed cut reconnects together.
 */
export const NETWORK_BACK_YIELD_MS = 1_000

/** What backoff and yielding do alike while they wait to dial again. */
const waitingEvents = {
  'peer.connect': { target: 'connecting', actions: 'startExplicit' },
  'peer.connected': { target: 'connected', actions: 'recordConnected' },
  'peer.disconnect': { target: 'disconnected', actions: 'hold' },
  'peer.setAdded': [
    { guard: 'stillWantedAfterSetAdded', actions: 'setAdded' },
    { target: 'disconnected', actions: 'setAdded' },
  ],
  'peer.update': [
    { guard: 'stillWantedAfterUpdate', actions: ['update', 'persist'] },
    { target: 'disconnected', actions: ['update', 'persist'] },
  ],
} as const

/**
 * A new peer's context. `since` holds Date.now() times, which V8 stores as doubles; made from a
 * literal with `since: 0`, each context got a map whose `since` field holds small integers, a map the
 * first stored time had deprecated, so every peer actor's context was migrated to the widened map (a
 * runtime call, ~1 µs in the profile) when its first event read it: `--trace-migration` showed one
 * `since:s->d` per peer actor, in the first peer.connected burst after 100k spawns. Made a double
 * field from the start (then set to 0), none is.
 */
function peerContext(input: PeerInput): PeerContext {
  const context: PeerContext = {
    alias: input.alias,
    peerId: input.peerId,
    name: input.name ?? '',
    ticket: input.ticket ?? null,
    addedAt: input.addedAt ?? null,
    lastSyncAt: input.lastSyncAt ?? null,
    known: input.known ?? false,
    autoConnect: input.autoConnect ?? input.known ?? false,
    added: false,
    held: false,
    syncDue: false,
    syncProgress: null,
    syncFailures: 0,
    connectionType: 'none',
    lastError: null,
    failures: 0,
    triesLeft: 0,
    since: DOUBLE_FIELD,
    backoff: input.backoff,
  }
  context.since = 0
  return context
}

/** Any value V8 stores as a double: makes the field a double field (see peerContext). */
const DOUBLE_FIELD = 0.5

/**
 * One remote peer as seen from one local node. Dials are the `dial` actor's work; libp2p's connect
 * and disconnect events arrive as peer.connected / peer.disconnected, whoever opened the connection.
 */
export const peerMachine = setup({
  types: {
    context: {} as PeerContext,
    events: {} as PeerEvent,
    input: {} as PeerInput,
  },
  actors: {
    dial: fromPromise<DialResult, { alias: string; peerId: string }>(async () => {
      throw new Error('dial is not bound')
    }),
    hangUp: fromPromise<void, { alias: string; peerId: string }>(async () => {}),
    /** Sync a known peer's directory: reports peer.syncProgress, then peer.syncDone or peer.syncFailed; stopping it aborts. */
    sync: fromCallback<PeerEvent, { alias: string; peerId: string }>(({ sendBack }) => {
      sendBack({ type: 'peer.syncFailed', error: 'sync is not bound' })
    }),
  },
  delays: {
    retryDelay: ({ context }) => retryDelay(context),
    explicitRetry: ({ context }) => context.backoff.explicitRetryMs,
    syncRetryDelay: ({ context }) => retryDelay({ ...context, failures: context.syncFailures }),
    networkBackYield: NETWORK_BACK_YIELD_MS,
  },
  guards: {
    wanted: ({ context }) => wanted(context),
    explicitTriesLeft: ({ context }) => context.triesLeft > 1,
    explicit: ({ context }) => context.triesLeft > 0,
    syncDue: ({ context }) => context.syncDue && context.known,
    forgotten: ({ context }) => !context.known,
    stillWantedAfterSetAdded: ({ context, event }) =>
      event.type === 'peer.setAdded' && (event.added || (context.known && context.autoConnect)),
    stillWantedAfterUpdate: ({ context, event }) =>
      event.type === 'peer.update' && (context.added || ((event.known ?? context.known) && (event.autoConnect ?? context.autoConnect))),
    remoteDialsFirst: ({ context, event }) =>
      event.type === 'peer.networkBack' && event.localPeerId !== undefined && context.peerId < event.localPeerId,
  },
  actions: {
    /** Told to the outside world when what is remembered about the peer changes (bound to the store). */
    persist: () => {},
    startExplicit: assign({
      triesLeft: ({ context, event }) =>
        event.type === 'peer.connect' ? (event.tries ?? context.backoff.explicitTries) : context.triesLeft,
      held: false,
    }),
    // one assign per transition: XState copies the context and builds a whole snapshot (state value,
    // tags) for each assign, so a step that ran two cost twice (bench/peer-actors.ts, 100k actors)
    /** Connected from any other state; a known peer's sync is due (this was the entry of `connected`). */
    recordConnected: assign(({ context, event }) => ({
      connectionType: event.type === 'peer.connected' ? event.connectionType : context.connectionType,
      since: event.type === 'peer.connected' ? event.at : context.since,
      failures: 0,
      triesLeft: 0,
      lastError: null,
      syncDue: context.known,
      syncFailures: 0,
    })),
    /** libp2p reported the peer connected while it already was: its type and time, the sync left as it is. */
    recordConnectedAgain: assign(({ context, event }) => ({
      connectionType: event.type === 'peer.connected' ? event.connectionType : context.connectionType,
      since: event.type === 'peer.connected' ? event.at : context.since,
      failures: 0,
      triesLeft: 0,
      lastError: null,
    })),
    recordDisconnected: assign(({ context, event }) => ({
      connectionType: 'none' as const,
      since: event.type === 'peer.disconnected' ? event.at : context.since,
    })),
    /** Lost the connection to a wanted peer: the first retry waits as after one failed dial. */
    recordDisconnectedToRetry: assign(({ context, event }) => ({
      connectionType: 'none' as const,
      since: event.type === 'peer.disconnected' ? event.at : context.since,
      failures: 1,
    })),
    update: assign(({ context, event }) => {
      if (event.type !== 'peer.update') return {}
      return {
        name: event.name ?? context.name,
        autoConnect: event.autoConnect ?? context.autoConnect,
        known: event.known ?? context.known,
        ticket: event.ticket ?? context.ticket,
        addedAt: context.addedAt ?? (event.known ? (event.at ?? context.since) : null),
        // a peer that becomes known (paired) is synced at once if connected
        syncDue: context.syncDue || (event.known === true && !context.known),
      }
    }),
    setAdded: assign({ added: ({ context, event }) => (event.type === 'peer.setAdded' ? event.added : context.added) }),
    hold: assign({ held: true, triesLeft: 0 }),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => peerContext(input),
  on: {
    'peer.update': { actions: ['update', 'persist'] },
    'peer.connectionType': { actions: assign({ connectionType: ({ event }) => event.connectionType }) },
  },
  initial: 'disconnected',
  states: {
    disconnected: {
      tags: ['status:disconnected'],
      description:
        'No connection. A wanted peer (added, or known with autoConnect), or one a connect was asked for while hanging up, is dialled at once.',
      always: [
        { guard: 'wanted', target: 'connecting' },
        { guard: 'explicit', target: 'connecting' },
      ],
      on: {
        'peer.connect': { target: 'connecting', actions: 'startExplicit' },
        'peer.connected': { target: 'connected', actions: 'recordConnected' },
        // `always` re-checks `wanted` after these
        'peer.setAdded': { actions: 'setAdded' },
      },
    },
    connecting: {
      tags: ['status:connecting'],
      description: 'Dialling the peer from the address book, the peer store or a DHT lookup.',
      invoke: {
        src: 'dial',
        input: ({ context }) => ({ alias: context.alias, peerId: context.peerId }),
        onDone: {
          target: 'connected',
          // what recordConnected does for a peer.connected
          actions: assign(({ context, event }) => ({
            connectionType: event.output.connectionType,
            since: event.output.at,
            failures: 0,
            triesLeft: 0,
            lastError: null,
            syncDue: context.known,
            syncFailures: 0,
          })),
        },
        onError: [
          {
            guard: 'explicitTriesLeft',
            target: 'retrying',
            actions: assign({
              lastError: ({ event }) => errorMessage(event.error),
              triesLeft: ({ context }) => context.triesLeft - 1,
              failures: ({ context }) => context.failures + 1,
            }),
          },
          {
            guard: 'wanted',
            target: 'backoff',
            actions: assign({
              lastError: ({ event }) => errorMessage(event.error),
              failures: ({ context }) => context.failures + 1,
              triesLeft: 0,
            }),
          },
          {
            guard: 'explicit',
            target: 'failed',
            actions: assign({
              lastError: ({ event }) => errorMessage(event.error),
              failures: ({ context }) => context.failures + 1,
              triesLeft: 0,
            }),
          },
          {
            target: 'disconnected',
            actions: assign({ lastError: ({ event }) => errorMessage(event.error), failures: ({ context }) => context.failures + 1 }),
          },
        ],
      },
      on: {
        // a client's connect during an automatic dial turns it into an explicit one, with its tries
        'peer.connect': { actions: 'startExplicit' },
        'peer.connected': { target: 'connected', actions: 'recordConnected' },
        'peer.disconnect': { target: 'disconnected', actions: 'hold' },
        'peer.setAdded': { actions: 'setAdded' },
      },
    },
    retrying: {
      // the pause between an explicit connect's tries is part of connecting, as peers.connect sees it
      tags: ['status:connecting'],
      description: 'An explicit connect failed a try; the next try follows after a fixed pause.',
      after: { explicitRetry: 'connecting' },
      on: {
        'peer.connect': { actions: 'startExplicit' },
        'peer.connected': { target: 'connected', actions: 'recordConnected' },
        'peer.disconnect': { target: 'disconnected', actions: 'hold' },
        'peer.setAdded': { actions: 'setAdded' },
      },
    },
    backoff: {
      tags: ['status:backoff'],
      description: 'A wanted peer is unreachable; retries with exponential backoff and jitter, capped, for as long as it stays wanted.',
      after: { retryDelay: 'connecting' },
      on: {
        // another unreachable peer of this node came back: the network likely did, retry now; when
        // both ends heard it, the end with the higher peer id lets the other dial first
        'peer.networkBack': [{ guard: 'remoteDialsFirst', target: 'yielding' }, { target: 'connecting' }],
        ...waitingEvents,
      },
    },
    yielding: {
      tags: ['status:backoff'],
      description:
        'The network came back and the peer, whose id is the lower, dials too: its connection is awaited a moment, so the pair pays one handshake, not two; then this end dials.',
      after: { networkBackYield: 'connecting' },
      on: waitingEvents,
    },
    connected: {
      description:
        'At least one live connection; connectionType is read from the best of them. A known peer is synced on arrival and after each change it reports.',
      // every transition into this state sets syncDue (from `known`) and clears syncFailures: one assign per step, not two
      initial: 'idle',
      states: {
        idle: {
          tags: ['status:connected'],
          always: { guard: 'syncDue', target: 'syncing' },
        },
        syncing: {
          tags: ['status:syncing'],
          description:
            "Fetching the blocks of this known peer's directory that we lack, to keep its replica; leaving (disconnect, forget) aborts it.",
          entry: assign({ syncDue: false, syncProgress: { blocksFetched: 0, blocksTotal: 0, bytes: 0 } }),
          exit: assign({ syncProgress: null }),
          invoke: { src: 'sync', input: ({ context }) => ({ alias: context.alias, peerId: context.peerId }) },
          always: { guard: 'forgotten', target: 'idle' },
          on: {
            'peer.syncProgress': { actions: assign({ syncProgress: ({ event }) => event.progress }) },
            'peer.syncDone': {
              target: 'idle',
              actions: [assign({ lastSyncAt: ({ event }) => event.at, lastError: null, syncFailures: 0 }), 'persist'],
            },
            'peer.syncFailed': {
              target: 'syncBackoff',
              actions: assign({
                lastError: ({ event }) => `sync: ${event.error}`,
                syncFailures: ({ context }) => context.syncFailures + 1,
              }),
            },
          },
        },
        syncBackoff: {
          tags: ['status:connected'],
          description:
            'The last sync failed (lastError says why); it is tried again after a capped, jittered backoff, or at once when the peer reports a change.',
          after: { syncRetryDelay: 'syncing' },
          always: [
            { guard: 'forgotten', target: 'idle' },
            { guard: 'syncDue', target: 'syncing' },
          ],
        },
      },
      on: {
        'peer.filesChanged': { actions: assign({ syncDue: true }) },
        'peer.disconnected': [
          { guard: 'wanted', target: 'backoff', actions: 'recordDisconnectedToRetry' },
          { target: 'disconnected', actions: 'recordDisconnected' },
        ],
        'peer.disconnect': { target: 'disconnecting', actions: 'hold' },
        'peer.setAdded': { actions: 'setAdded' },
        'peer.connected': { actions: 'recordConnectedAgain' },
      },
    },
    disconnecting: {
      // the connection is still open while it is hung up
      tags: ['status:connected'],
      description: 'A client asked to hang up; the peer stays known.',
      invoke: {
        src: 'hangUp',
        input: ({ context }) => ({ alias: context.alias, peerId: context.peerId }),
        onDone: { target: 'disconnected', actions: assign({ connectionType: 'none' }) },
        onError: { target: 'disconnected', actions: assign({ lastError: ({ event }) => errorMessage(event.error) }) },
      },
      // what arrives during the hang-up is kept and acted on once it is done (back in disconnected)
      on: {
        'peer.disconnected': { actions: 'recordDisconnected' },
        'peer.setAdded': { actions: 'setAdded' },
        'peer.connect': { actions: 'startExplicit' },
        // the client's last word wins: a connect asked for during the hang-up is dropped again
        'peer.disconnect': { actions: 'hold' },
      },
    },
    failed: {
      tags: ['status:failed'],
      description:
        'An explicit connect gave up after its tries; lastError says why. Becoming wanted (added, or known with autoConnect) dials again.',
      always: { guard: 'wanted', target: 'connecting' },
      on: {
        'peer.connect': { target: 'connecting', actions: 'startExplicit' },
        'peer.connected': { target: 'connected', actions: 'recordConnected' },
        'peer.setAdded': { actions: 'setAdded' },
      },
    },
  },
})

/** Every status a client sees in PeerState (protocol.md), one `status:<name>` tag on each atomic state. */
export const peerStatuses = ['disconnected', 'connecting', 'connected', 'syncing', 'backoff', 'failed'] as const
export type PeerStatus = (typeof peerStatuses)[number]

const STATUS_TAG = 'status:'

/** The status named by a peer snapshot's tags (each state of the peer machine carries exactly one). */
export function peerStatusOfTags(tags: Iterable<string>): PeerStatus {
  for (const tag of tags) {
    if (!tag.startsWith(STATUS_TAG)) continue
    const status = tag.slice(STATUS_TAG.length)
    if ((peerStatuses as readonly string[]).includes(status)) return status as PeerStatus
  }
  throw new Error(`no status tag among ${JSON.stringify([...tags])}`)
}

/** Throws unless every atomic state under `root` has exactly one known status tag, its own or an ancestor's. */
export function checkStatusTags(root: AnyStateNode): void {
  for (const node of atomicStates(root)) {
    const tags = [node, ...ancestors(node)].flatMap((n) => n.tags.filter((t) => t.startsWith(STATUS_TAG)))
    if (tags.length !== 1) throw new Error(`peer state ${node.id} needs exactly one status tag, has ${JSON.stringify(tags)}`)
    peerStatusOfTags(tags)
  }
}

// every atomic state must name its status: checked once here, so a state added without one fails
// at load rather than when its first snapshot is pushed
checkStatusTags(peerMachine.root)

function atomicStates(node: AnyStateNode): AnyStateNode[] {
  const children = Object.values(node.states) as AnyStateNode[]
  return children.length === 0 ? [node] : children.flatMap(atomicStates)
}

function ancestors(node: AnyStateNode): AnyStateNode[] {
  return node.parent ? [node.parent, ...ancestors(node.parent)] : []
}

/** The protocol's PeerState status for a machine state value: the status tag of that state. */
export function peerStatus(value: StateValue): PeerStatus {
  return peerStatusOfTags(peerMachine.resolveState({ value, context: {} as PeerContext }).tags)
}

/** protocol.md PeerState, without the status (which comes from the state value). */
export function peerPublicContext(context: PeerContext) {
  return {
    peerId: context.peerId,
    name: context.name,
    ticket: context.ticket ?? undefined,
    addedAt: context.addedAt,
    lastSyncAt: context.lastSyncAt,
    autoConnect: context.autoConnect,
    known: context.known,
    added: context.added,
    held: context.held,
    connectionType: context.connectionType,
    lastError: context.lastError,
    sync: context.syncProgress,
    failures: context.failures,
    since: context.since,
  }
}
