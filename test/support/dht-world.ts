import { type AnyActor, type EventObject, fromCallback, fromPromise } from 'xstate'
import { dhtMachine } from '../../src/machines/dht/dht.machine.ts'
import type { DhtEmitted, DhtEvent, DhtInput, DhtOp } from '../../src/machines/dht/dht.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

/** What became of an operation a client submitted, as the client (the queue facade) sees it. */
interface OpRecord {
  op: DhtOp
  fate: 'waiting' | 'running' | 'done' | 'aborted' | 'rejected'
  reason?: string
  /** How many outcomes (opDone/opFailed) its client heard. */
  answers: number
  /** How many times a runner started for it. */
  runs: number
}

interface BootstrapRun {
  startedAt: number
  settled: boolean
  aborted: boolean
  resolve(size: number): void
  reject(error: Error): void
}

/**
 * What the DHT's effects touch, faked: libp2p's routing table and connections, the bootstrap runs,
 * the operation runners, the clients that submit operations, and the clock. The fakes mutate it;
 * the invariants below read it. Nothing here looks at the machine's state or context.
 */
export class DhtWorld {
  readonly clock = new WorldClock()
  readonly table = new Set<string>()
  readonly connections = new Set<string>()
  /** Live routing-table listeners (the watchRoutingTable effect's subscriptions). */
  readonly watchers = new Set<(event: DhtEvent) => void>()
  readonly bootstraps: BootstrapRun[] = []
  /** Live operation runners, by operation id. */
  readonly runners = new Map<string, (event: DhtEvent) => void>()
  readonly ops = new Map<string, OpRecord>()
  readonly cancelRequested = new Set<string>()
  stopRequested = false
  /** Facts that were wrong when they happened (checked as an invariant after every step). */
  readonly violations: string[] = []
  #peers = 0

  constructor(readonly settings: DhtInput) {}

  // -- the effects, bound to this world --------------------------------------------------------

  readonly effects = {
    bootstrap: fromPromise<number, { alias: string }>(
      ({ signal }) =>
        new Promise<number>((resolve, reject) => {
          const run: BootstrapRun = {
            startedAt: this.clock.now,
            settled: false,
            aborted: false,
            resolve: (size) => {
              run.settled = true
              resolve(size)
            },
            reject: (error) => {
              run.settled = true
              reject(error)
            },
          }
          signal.addEventListener('abort', () => {
            run.aborted = true
          })
          this.bootstraps.push(run)
        }),
    ),
    watchRoutingTable: fromCallback<DhtEvent, { alias: string }>(({ sendBack }) => {
      const listener = (event: DhtEvent) => sendBack(event)
      this.watchers.add(listener)
      return () => this.watchers.delete(listener)
    }),
    runOp: fromCallback<DhtEvent, { alias: string; op: DhtOp }>(({ input, sendBack }) => {
      const id = input.op.id
      const record = this.ops.get(id)
      if (!record) this.violations.push(`a runner started for ${id}, which no client submitted`)
      else if (record.fate !== 'waiting') this.violations.push(`a runner started for ${id}, which was ${record.fate}`)
      if (this.runners.has(id)) this.violations.push(`two runners for ${id}`)
      if (record) {
        record.fate = 'running'
        record.runs++
      }
      this.runners.set(id, (event) => sendBack(event))
      return () => {
        this.runners.delete(id)
        if (record?.fate === 'running') record.fate = 'aborted'
      }
    }),
  }

  /** Listen to what the actor tells its clients, as the queue facade does. */
  attach = (actor: AnyActor) => {
    const answered = (emitted: EventObject) => {
      const e = emitted as EventObject & { id: string }
      const record = this.ops.get(e.id)
      if (!record) return void this.violations.push(`answered ${e.id}, which no client submitted`)
      if (record.fate !== 'done') this.violations.push(`answered ${e.id} while it was ${record.fate}`)
      record.answers++
      if (record.answers > 1) this.violations.push(`answered ${e.id} twice`)
    }
    actor.on('dht.opDone', answered)
    actor.on('dht.opFailed', answered)
    actor.on('dht.opRejected', (emitted: EventObject) => {
      const e = emitted as Extract<DhtEmitted, { type: 'dht.opRejected' }>
      const record = this.ops.get(e.id)
      if (!record) return void this.violations.push(`rejected ${e.id}, which no client submitted`)
      if (record.fate === 'done' || record.fate === 'rejected')
        this.violations.push(`rejected ${e.id} (${e.reason}) after it was already ${record.fate}`)
      if (e.reason === 'queueFull' && this.waiting().filter((r) => r !== record).length < this.settings.queueLimit)
        this.violations.push(`rejected ${e.id} as queueFull with ${this.waiting().length - 1} waiting of ${this.settings.queueLimit}`)
      if (e.reason === 'cancelled' && !this.cancelRequested.has(e.id)) this.violations.push(`cancelled ${e.id}, which nobody cancelled`)
      if (e.reason === 'stopped' && !this.stopRequested) this.violations.push(`rejected ${e.id} as stopped before any stop`)
      record.fate = 'rejected'
      record.reason = e.reason
    })
  }

  // -- what the outside world does ------------------------------------------------------------

  notify(event: DhtEvent): void {
    if (this.watchers.size === 0) throw new Error('nobody watches the routing table')
    for (const listener of [...this.watchers]) listener(event)
  }

  /** A peer connects; kad adds it to the routing table or not. */
  connectPeer(joinsTable: boolean): void {
    const peer = `peer${++this.#peers}`
    this.connections.add(peer)
    if (joinsTable) this.table.add(peer)
    this.notify({ type: 'dht.peerConnected', routingTableSize: this.table.size })
  }

  /** The routing table gains a peer, or loses every one. */
  changeTable(grow: boolean): void {
    if (grow) this.table.add(`peer${++this.#peers}`)
    else this.table.clear()
    this.notify({ type: 'dht.routingTable', size: this.table.size })
  }

  pendingBootstrap(): BootstrapRun {
    const run = this.bootstraps.find((b) => !b.settled && !b.aborted)
    if (!run) throw new Error('no bootstrap is in flight')
    return run
  }

  /** The bootstrap in flight ends: it reached a bootstrap peer (which joins the table) or nobody. */
  finishBootstrap(reached: boolean): void {
    const run = this.pendingBootstrap()
    if (reached) this.table.add(`bootstrap${++this.#peers}`)
    else if (this.table.size > 0) throw new Error('the routing table holds peers: a bootstrap cannot end with it empty')
    run.resolve(this.table.size)
  }

  submit(op: DhtOp): void {
    if (this.ops.has(op.id) && !['done', 'rejected', 'aborted'].includes(this.ops.get(op.id)?.fate ?? ''))
      throw new Error(`${op.id} is still pending`)
    this.ops.set(op.id, { op, fate: 'waiting', runs: 0, answers: 0 })
  }

  finishOp(id: string): void {
    const runner = this.runners.get(id)
    const record = this.ops.get(id)
    if (!runner || !record) throw new Error(`no runner of ${id} is live`)
    record.fate = 'done'
    runner({ type: 'dht.opSettled', id, result: `result of ${id}` })
  }

  // -- what can be read off it ------------------------------------------------------------------

  waiting = () => [...this.ops.values()].filter((r) => r.fate === 'waiting')
  running = () => [...this.ops.values()].filter((r) => r.fate === 'running')
  inFlight = () => this.bootstraps.filter((b) => !b.settled && !b.aborted)
  timersArmed = () => this.clock.armedFor(this.settings.bootstrapTimeoutMs)
  /** The catalog's retry rule for a degraded DHT: 5 s after the first failed bootstrap, doubling, at most 60 s. */
  retryDelay = () => Math.min(60_000, 5_000 * 2 ** (this.bootstraps.length - 1))
  /** Every armed timer, whatever its duration. */
  allTimers = () => this.clock.armed.size
}

/** Facts that hold in every state, from the catalog's description of the DHT and its queue. */
export function dhtAlways(w: DhtWorld): void {
  check(w.violations.length === 0, w.violations.join('; '))
  check(w.runners.size <= w.settings.concurrency, `${w.runners.size} runners live, concurrency is ${w.settings.concurrency}`)
  for (const r of w.running()) check(w.runners.has(r.op.id), `${r.op.id} is running without a live runner`)
  check(w.inFlight().length <= 1, `${w.inFlight().length} bootstraps in flight at once`)
  check(w.waiting().length <= w.settings.queueLimit, `${w.waiting().length} operations wait, the queue holds ${w.settings.queueLimit}`)
  for (const r of w.ops.values()) {
    check(r.runs <= 1, `${r.op.id} ran ${r.runs} times`)
    check(r.fate !== 'aborted', `${r.op.id} was aborted and its client never told (no opRejected)`)
  }
}

/** Per state, what the world must look like (written from src/machines/catalog.ts and docs/statecharts/dht.md). */
export const dhtInvariants: Invariants<DhtWorld> = {
  idle: (w) => {
    check(w.bootstraps.length === 0, 'idle, yet a bootstrap ran')
    check(w.runners.size === 0, 'idle, yet an operation runs')
    check(w.watchers.size === 1, `${w.watchers.size} routing-table watchers, expected 1`)
    check(w.allTimers() === 0, 'idle with a timer armed')
  },
  bootstrapping: (w) => {
    check(w.watchers.size === 1, `${w.watchers.size} routing-table watchers, expected 1`)
    check(w.timersArmed() === 1, `${w.timersArmed()} bootstrap timers armed, expected 1`)
    check(w.allTimers() === 1, 'bootstrapping with a retry timer still armed')
    const timer = [...w.clock.armed.values()].find((t) => t.ms === w.settings.bootstrapTimeoutMs)
    const newest = w.bootstraps.at(-1)
    check(
      newest !== undefined && timer !== undefined && newest.startedAt === timer.at - timer.ms,
      'the bootstrap timer was not armed when the newest bootstrap started',
    )
  },
  ready: (w) => {
    check(w.table.size > 0, 'dhtReady with an empty routing table')
    check(w.allTimers() === 0, 'ready with a bootstrap or retry timer still armed')
    check(w.inFlight().length === 0, 'ready with a bootstrap still in flight')
    check(
      w.waiting().length === 0 || w.runners.size === w.settings.concurrency,
      `the queue does not drain: ${w.waiting().length} wait while ${w.runners.size} of ${w.settings.concurrency} run`,
    )
  },
  degraded: (w) => {
    check(w.table.size === 0, `degraded with ${w.table.size} peers in the routing table`)
    check(w.clock.fired.includes(w.settings.bootstrapTimeoutMs), 'degraded, but no bootstrap ever timed out')
    check(w.timersArmed() === 0, 'degraded with a bootstrap timer still armed')
    check(
      w.allTimers() === 1 && w.clock.armedFor(w.retryDelay()) === 1,
      `degraded after ${w.bootstraps.length} bootstraps: expected one retry timer of ${w.retryDelay()} ms, armed: ${[...w.clock.armed.values()].map((t) => t.ms)}`,
    )
    check(w.inFlight().length === 0, 'degraded with a bootstrap still in flight')
    check(w.watchers.size === 1, 'degraded and no longer watching for peers')
  },
  stopped: (w) => {
    check(w.stopRequested, 'stopped, but nobody stopped it')
    check(w.runners.size === 0, `${w.runners.size} runners still live after stop`)
    const open = [...w.ops.values()].filter((r) => r.fate === 'waiting' || r.fate === 'running')
    check(open.length === 0, `operations left unanswered after stop: ${open.map((r) => r.op.id).join(',')}`)
    check(w.inFlight().length === 0, 'a bootstrap still in flight after stop')
    check(w.allTimers() === 0, 'a bootstrap or retry timer still armed after stop')
    check(w.watchers.size === 0, 'still watching the routing table after stop')
  },
}

/** The real DHT machine with every effect bound to a fresh world. */
export function dhtWorld(input: DhtInput) {
  const world = new DhtWorld(input)
  return { world, machine: dhtMachine.provide({ actors: world.effects }), clock: world.clock, attach: world.attach }
}
