import { type AnyActorRef, type EventObject, fromCallback, fromPromise, type InspectionEvent } from 'xstate'
import { dhtMachine } from '../../src/machines/dht/dht.machine.ts'
import type { DhtEvent, DhtInput, DhtOp } from '../../src/machines/dht/dht.types.ts'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import type { NodeEvent, NodeInput, NodeStarted } from '../../src/machines/node/node.types.ts'
import type { reportStoppedToSupervisor } from '../../src/machines/supervisor/supervisor.machine.ts'

/** One run of a controlled promise actor: pending until the test settles it. */
export interface PromiseCall<TOutput, TInput> {
  input: TInput
  signal: AbortSignal
  settled: boolean
  resolve(output: TOutput): void
  reject(error: unknown): void
}

/**
 * A `fromPromise` fake whose every run waits for the test: `resolve`/`reject` settle the oldest
 * run still pending, so a test decides when (and how) each invocation ends.
 */
export function controlledPromise<TOutput, TInput = unknown>(name = 'promise actor') {
  const calls: PromiseCall<TOutput, TInput>[] = []
  const logic = fromPromise<TOutput, TInput>(
    ({ input, signal }) =>
      new Promise<TOutput>((resolve, reject) => {
        const call: PromiseCall<TOutput, TInput> = {
          input,
          signal,
          settled: false,
          resolve: (output) => {
            call.settled = true
            resolve(output)
          },
          reject: (error) => {
            call.settled = true
            reject(error)
          },
        }
        calls.push(call)
      }),
  )
  const pending = () => {
    // an aborted run belongs to an invocation the machine already left
    const call = calls.find((c) => !c.settled && !c.signal.aborted)
    if (!call) throw new Error(`no pending run of ${name} (${calls.length} ran)`)
    return call
  }
  return {
    logic,
    calls,
    pending,
    resolve: (output: TOutput) => pending().resolve(output),
    reject: (error: unknown) => pending().reject(error),
  }
}

/** One running instance of a controlled callback actor. */
export interface CallbackInstance<TInput, TEvent extends EventObject = EventObject, TSent extends EventObject = TEvent> {
  input: TInput
  received: TEvent[]
  stopped: boolean
  sendBack(event: TSent): void
}

/**
 * A `fromCallback` fake that keeps each instance's `sendBack`, so the test plays the outside
 * world (libp2p events, a finished operation), and records what the machine sent it.
 */
export function controlledCallback<TInput = unknown, TEvent extends EventObject = EventObject, TSent extends EventObject = TEvent>(
  name = 'callback actor',
) {
  const instances: CallbackInstance<TInput, TEvent, TSent>[] = []
  const logic = fromCallback<TEvent, TInput>(({ input, sendBack, receive }) => {
    const instance: CallbackInstance<TInput, TEvent, TSent> = {
      input,
      received: [],
      stopped: false,
      sendBack,
    }
    receive((event) => instance.received.push(event))
    instances.push(instance)
    return () => {
      instance.stopped = true
    }
  })
  const live = () => instances.filter((i) => !i.stopped)
  /** The newest live instance that matches; throws when there is none. */
  const latest = (match: (instance: CallbackInstance<TInput, TEvent, TSent>) => boolean = () => true) => {
    const found = live().filter(match).at(-1)
    if (!found) throw new Error(`no live instance of ${name} matches (${instances.length} ran)`)
    return found
  }
  return { logic, instances, live, latest }
}

/**
 * Knows when the root actor has processed an event, from its inspection stream: the one signal that
 * is right both for events handled synchronously and for ones that arrive after a promise settles.
 */
export class EventProbe {
  #root: AnyActorRef | undefined
  #waiters: { type: string; resolve: () => void }[] = []
  /** Types of the events the root processed, in order. */
  readonly processed: string[] = []

  readonly inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot' || this.#root === undefined || event.actorRef !== this.#root) return
    this.processed.push(event.event.type)
    const i = this.#waiters.findIndex((w) => w.type === event.event.type)
    if (i >= 0) this.#waiters.splice(i, 1)[0]?.resolve()
  }

  attach(root: AnyActorRef): void {
    this.#root = root
  }

  /** Run `trigger` and resolve once the root has processed an event of `type` (armed before the trigger). */
  async after(type: string, trigger: () => unknown, timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    let waiter: { type: string; resolve: () => void } | undefined
    const seen = new Promise<void>((resolve, reject) => {
      waiter = { type, resolve }
      this.#waiters.push(waiter)
      timer = setTimeout(() => reject(new Error(`the actor never processed ${type}`)), timeoutMs)
    })
    try {
      await trigger()
      await seen
    } finally {
      clearTimeout(timer)
      this.#waiters = this.#waiters.filter((w) => w !== waiter)
    }
  }
}

export const dhtOp = (id: string, kind: DhtOp['kind'] = 'findPeer'): DhtOp => ({
  id,
  kind,
  key: `key-${id}`,
  enqueuedAt: 0,
})

export const dhtInput = (overrides: Partial<DhtInput> = {}): DhtInput => ({
  alias: 'a',
  bootstrapTimeoutMs: 5_000,
  queueLimit: 8,
  concurrency: 2,
  ...overrides,
})

/** The DHT machine with every actor slot bound to a controlled fake. */
export function fakeDht() {
  const bootstrap = controlledPromise<number, { alias: string }>('bootstrap')
  const table = controlledCallback<{ alias: string }, DhtEvent>('watchRoutingTable')
  const runOp = controlledCallback<{ alias: string; op: DhtOp }, DhtEvent>('runOp')
  const machine = dhtMachine.provide({
    actors: {
      bootstrap: bootstrap.logic,
      watchRoutingTable: table.logic,
      runOp: runOp.logic,
    },
  })
  return { machine, bootstrap, table, runOp }
}

export const nodeInput = (alias: string, overrides: Partial<NodeInput> = {}): NodeInput => ({
  alias,
  persistent: false,
  dhtBootstrapTimeoutMs: 5_000,
  dhtQueueLimit: 8,
  dhtConcurrency: 2,
  backoff: {
    initialMs: 1_000,
    maxMs: 60_000,
    explicitRetryMs: 1_000,
    explicitTries: 3,
  },
  ...overrides,
})

export interface StopReport {
  alias: string
  error?: string
}

/**
 * The node machine with its side effects faked and a fake DHT child. `reportStopped` defaults to
 * recording the reports; pass the supervisor's binding to run the node under a supervisor.
 */
export function fakeNode(options: { reportStopped?: typeof reportStoppedToSupervisor } = {}) {
  const createNode = controlledPromise<NodeStarted, { alias: string }>('createNode')
  const stopNode = controlledPromise<void, { alias: string }>('stopNode')
  const watchNode = controlledCallback<{ alias: string }, NodeEvent>('watchNode')
  const watchPeers = controlledCallback<{ alias: string; backoff: NodeInput['backoff'] }, NodeEvent>('watchPeers')
  const dht = fakeDht()
  const reports: StopReport[] = []
  const machine = nodeMachine.provide({
    actors: {
      createNode: createNode.logic,
      stopNode: stopNode.logic,
      watchNode: watchNode.logic,
      watchPeers: watchPeers.logic,
      dht: dht.machine,
    },
    actions: {
      reportStopped:
        options.reportStopped ??
        ((_, params) => {
          reports.push(params)
        }),
    },
  })
  return { machine, createNode, stopNode, watchNode, watchPeers, dht, reports }
}
