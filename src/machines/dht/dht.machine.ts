import { assign, emit, enqueueActions, fromCallback, fromPromise, setup } from 'xstate'
import type { DhtContext, DhtEmitted, DhtEvent, DhtInput, DhtOp } from './dht.types.ts'

const BOOTSTRAP_RETRY_BASE_MS = 5_000
const BOOTSTRAP_RETRY_CAP_MS = 60_000

/**
 * How long a degraded DHT waits before bootstrapping again, after `attempts` bootstraps: a bootstrap
 * peer that was down or too busy to answer at our start is tried again, without flooding it.
 */
export const bootstrapRetryDelay = (attempts: number): number =>
  Math.min(BOOTSTRAP_RETRY_CAP_MS, BOOTSTRAP_RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1))

/**
 * The DHT of one local node: idle -> bootstrapping -> ready | degraded, and the queue of operations
 * that wait until it is ready. Running an operation is the `runOp` actor's job; the machine only
 * decides when, and reports start and rejection through emitted events.
 */
export const dhtMachine = setup({
  types: {
    context: {} as DhtContext,
    events: {} as DhtEvent,
    input: {} as DhtInput,
    emitted: {} as DhtEmitted,
  },
  actors: {
    /** Dial the bootstrap peers and run the DHT's bootstrap; resolves with the routing table size. */
    bootstrap: fromPromise<number, { alias: string }>(async () => 0),
    /** Turns libp2p's peer and routing-table events into dht.* events. */
    watchRoutingTable: fromCallback<DhtEvent, { alias: string }>(() => () => {}),
    /** Runs one operation from its plain description; sends dht.opSettled (result or error) back, aborts on stop. */
    runOp: fromCallback<DhtEvent, { alias: string; op: DhtOp }>(() => () => {}),
  },
  delays: {
    bootstrapTimeout: ({ context }) => context.bootstrapTimeoutMs,
    bootstrapRetry: ({ context }) => bootstrapRetryDelay(context.attempts),
  },
  guards: {
    queueFull: ({ context }) => context.queue.length >= context.queueLimit,
    routingTableHasPeers: ({ context }) => context.routingTableSize > 0,
    eventHasPeers: ({ event }) =>
      (event.type === 'dht.peerConnected' && event.routingTableSize > 0) || (event.type === 'dht.routingTable' && event.size > 0),
  },
  actions: {
    rejectFull: emit(({ context, event }) => {
      const id = event.type === 'dht.enqueue' ? event.op.id : ''
      return {
        type: 'dht.opRejected' as const,
        id,
        reason: 'queueFull' as const,
        message: `DHT operation queue is full (${context.queueLimit} waiting)`,
      }
    }),
    enqueue: assign({
      queue: ({ context, event }) => (event.type === 'dht.enqueue' ? [...context.queue, event.op] : context.queue),
    }),
    /** Start queued operations, oldest first, up to the concurrency limit. */
    drain: enqueueActions(({ context, enqueue }) => {
      const free = context.concurrency - context.running.length
      if (free <= 0 || context.queue.length === 0) return
      const starting = context.queue.slice(0, free)
      for (const op of starting) {
        enqueue.spawnChild('runOp', { id: `op:${op.id}`, input: { alias: context.alias, op } })
        enqueue.emit({ type: 'dht.opStart', op })
      }
      enqueue.assign({ queue: context.queue.slice(starting.length), running: [...context.running, ...starting] })
    }),
    /** A runner finished: free its slot and hand its outcome to the caller, by op id. */
    settle: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dht.opSettled') return
      const wasRunning = context.running.some((op) => op.id === event.id)
      enqueue.stopChild(`op:${event.id}`)
      enqueue.assign({ running: context.running.filter((op) => op.id !== event.id) })
      if (!wasRunning) return
      if (event.error) enqueue.emit({ type: 'dht.opFailed', id: event.id, error: event.error })
      else enqueue.emit({ type: 'dht.opDone', id: event.id, result: event.result ?? null })
    }),
    cancelOne: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dht.cancel') return
      const queued = context.queue.find((op) => op.id === event.id)
      if (queued) {
        enqueue.assign({ queue: context.queue.filter((op) => op.id !== event.id) })
        enqueue.emit({ type: 'dht.opRejected', id: event.id, reason: 'cancelled', message: 'DHT operation cancelled' })
      } else if (context.running.some((op) => op.id === event.id)) {
        // stopping the runner aborts its signal; the facade rejects the caller
        enqueue.stopChild(`op:${event.id}`)
        enqueue.assign({ running: context.running.filter((op) => op.id !== event.id) })
        enqueue.emit({ type: 'dht.opRejected', id: event.id, reason: 'cancelled', message: 'DHT operation cancelled' })
      }
    }),
    cancelAll: enqueueActions(({ context, enqueue }) => {
      for (const op of [...context.running, ...context.queue]) {
        enqueue.stopChild(`op:${op.id}`)
        enqueue.emit({ type: 'dht.opRejected', id: op.id, reason: 'stopped', message: 'DHT stopped before the operation ran' })
      }
      enqueue.assign({ queue: [], running: [] })
    }),
    recordTableSize: assign({
      routingTableSize: ({ context, event }) =>
        event.type === 'dht.peerConnected'
          ? event.routingTableSize
          : event.type === 'dht.routingTable'
            ? event.size
            : context.routingTableSize,
    }),
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
  },
}).createMachine({
  id: 'dht',
  context: ({ input }) => ({ ...input, queue: [], running: [], routingTableSize: 0, attempts: 0 }),
  invoke: { src: 'watchRoutingTable', input: ({ context }) => ({ alias: context.alias }) },
  on: {
    'dht.routingTable': { actions: 'recordTableSize' },
    'dht.peerConnected': { actions: 'recordTableSize' },
    'dht.cancel': { actions: 'cancelOne' },
    'dht.opSettled': { actions: 'settle' },
    'dht.enqueue': [{ guard: 'queueFull', actions: 'rejectFull' }, { actions: 'enqueue' }],
    'dht.stop': { target: '.stopped' },
  },
  initial: 'idle',
  states: {
    idle: {
      description: 'Created with its node; waits for the node to ask for a bootstrap.',
      on: { 'dht.bootstrap': 'bootstrapping' },
    },
    bootstrapping: {
      description: 'Dialling bootstrap peers and running the DHT bootstrap until the routing table holds a peer.',
      entry: 'countAttempt',
      invoke: {
        src: 'bootstrap',
        input: ({ context }) => ({ alias: context.alias }),
        onDone: [
          { guard: ({ event }) => event.output > 0, target: 'ready', actions: assign({ routingTableSize: ({ event }) => event.output }) },
        ],
        onError: { actions: assign({ lastError: ({ event }) => String((event.error as Error)?.message ?? event.error) }) },
      },
      on: {
        'dht.routingTable': [{ guard: 'eventHasPeers', target: 'ready', actions: 'recordTableSize' }, { actions: 'recordTableSize' }],
        'dht.peerConnected': [{ guard: 'eventHasPeers', target: 'ready', actions: 'recordTableSize' }, { actions: 'recordTableSize' }],
      },
      after: {
        bootstrapTimeout: [{ guard: 'routingTableHasPeers', target: 'ready' }, { target: 'degraded' }],
      },
    },
    ready: {
      description: 'dhtReady: the routing table holds a peer; queued operations drain with bounded concurrency.',
      tags: ['dhtReady'],
      entry: [assign({ lastError: undefined }), 'drain'],
      on: {
        'dht.enqueue': [{ guard: 'queueFull', actions: 'rejectFull' }, { actions: ['enqueue', 'drain'] }],
        'dht.opSettled': { actions: ['settle', 'drain'] },
        // cancelling a running operation frees its slot for the next queued one
        'dht.cancel': { actions: ['cancelOne', 'drain'] },
        // the routing table emptied: dhtReady no longer holds, so bootstrap again
        'dht.routingTable': [
          { guard: 'eventHasPeers', actions: 'recordTableSize' },
          { target: 'bootstrapping', actions: 'recordTableSize' },
        ],
        'dht.bootstrap': 'bootstrapping',
      },
    },
    degraded: {
      description:
        'The bootstrap timed out with an empty routing table; operations keep waiting. A new peer retries at once; otherwise the bootstrap is tried again 5 s after the first failed attempt, doubling up to 60 s.',
      after: { bootstrapRetry: 'bootstrapping' },
      on: {
        'dht.peerConnected': { target: 'bootstrapping', actions: 'recordTableSize' },
        'dht.routingTable': [{ guard: 'eventHasPeers', target: 'ready', actions: 'recordTableSize' }, { actions: 'recordTableSize' }],
        'dht.bootstrap': 'bootstrapping',
      },
    },
    stopped: {
      description: 'Stopped with its node; every queued or running operation was rejected.',
      type: 'final',
      entry: 'cancelAll',
    },
  },
})

/** Client-facing view of the context: JSON-safe, no refs. */
export function dhtPublicContext(context: DhtContext) {
  return {
    alias: context.alias,
    queued: context.queue.length,
    running: context.running.length,
    queue: context.queue.slice(0, 20).map(({ id, kind, key }) => ({ id, kind, key })),
    // what holds the slots (a lookup that waits behind long provides is a dial that times out)
    runningOps: context.running.map(({ id, kind, key, enqueuedAt }) => ({ id, kind, key, enqueuedAt })),
    routingTableSize: context.routingTableSize,
    attempts: context.attempts,
    lastError: context.lastError ?? null,
  }
}
