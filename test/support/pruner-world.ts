import { type AnyActor, fromCallback, fromPromise } from 'xstate'
import { prunerMachine, prunerPublicContext } from '../../src/machines/pruner/pruner.machine.ts'
import type { PruneRound, PrunerEvent, PrunerInput } from '../../src/machines/pruner/pruner.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

interface Connection {
  id: number
  /** Its peer is added or known: a round never closes it. The first connection of the world is one. */
  protected: boolean
  /** In its grace period until then (set when a round spared it for its youth). */
  matureAt: number
  closedBy?: 'round' | 'remote'
}

interface Round {
  input: PrunerInput
  signal: AbortSignal
  settled: boolean
  /** Connections it closed so far. */
  closed: number
  resolve(round: PruneRound): void
  reject(error: Error): void
}

/**
 * What the pruner actor's effects touch, faked: libp2p's connections (one protected peer, the
 * others closable once out of their grace period) and its open/close events, the rounds in flight
 * (a round closes its victims one by one while it runs, as libp2p reports each close), and the
 * clock. Which connections a round spared for their youth is settled when it reports. Nothing here
 * reads the machine.
 */
export class PrunerWorld {
  readonly clock = new WorldClock()
  readonly connections: Connection[] = []
  readonly rounds: Round[] = []
  readonly watchers = new Set<(event: PrunerEvent) => void>()
  stopAsked = false
  /** libp2p reported a count above the high watermark since the last round ended (or since the start). */
  aboveHighSinceRound = false
  /** A connection opened above the high watermark, or a client asked for a look above it, while the round in flight ran. */
  openedAboveDuringRound = false
  /** A round ended while a connection had opened above the high watermark during it: another must follow. */
  owesRound = false
  /** How the newest round ended. */
  lastRound: 'ok' | 'failed' | undefined
  /** When the connections the newest round spared leave their grace period. */
  recheckAt: number | undefined
  /** Rounds that finished, the connections they closed, the newest one's report and the newest failure. */
  finished = 0
  pruned = 0
  report: PruneRound | null = null
  lastError: string | null = null
  readonly violations: string[] = []
  #next = 0

  constructor(readonly settings: PrunerInput) {}

  readonly effects = {
    watchConnections: fromCallback<PrunerEvent, { alias: string }>(({ input, sendBack }) => {
      if (input.alias !== this.settings.alias) this.violations.push(`watching the connections of ${input.alias}`)
      this.watchers.add(sendBack)
      return () => this.watchers.delete(sendBack)
    }),
    pruneRound: fromPromise<PruneRound, PrunerInput>(
      ({ input, signal }) =>
        new Promise<PruneRound>((resolve, reject) => {
          const { alias, high, low, graceMs } = this.settings
          if (input.alias !== alias || input.high !== high || input.low !== low || input.graceMs !== graceMs)
            this.violations.push(`a round for ${JSON.stringify(input)}`)
          if (this.roundsInFlight() > 0) this.violations.push('a round started while another runs')
          if (this.count() <= high && !this.owesRound)
            this.violations.push(`a round started at ${this.count()} connections, not above the high watermark, and none was owed`)
          this.owesRound = false
          this.openedAboveDuringRound = false
          const round: Round = {
            input,
            signal,
            settled: false,
            closed: 0,
            resolve: (r) => {
              round.settled = true
              resolve(r)
            },
            reject: (e) => {
              round.settled = true
              reject(e)
            },
          }
          this.rounds.push(round)
        }),
    ),
  }

  attach = (_actor: AnyActor) => {}

  open = () => this.connections.filter((c) => c.closedBy === undefined)
  count = () => this.open().length
  roundsInFlight = () => this.rounds.filter((r) => !r.settled && !r.signal.aborted).length
  young = () => this.open().filter((c) => !c.protected && c.matureAt > this.clock.now)

  pendingRound(): Round {
    const round = this.rounds.find((r) => !r.settled && !r.signal.aborted)
    if (!round) throw new Error('no round is in flight')
    return round
  }

  #report(count: number): void {
    if (count !== this.count()) throw new Error(`the world has ${this.count()} connections, cannot report ${count}`)
    if (count > this.settings.high) this.aboveHighSinceRound = true
    if (this.watchers.size === 0) throw new Error('nobody watches the connections')
    for (const w of [...this.watchers]) w({ type: 'pruner.connections', count })
  }

  // -- what the outside world does --------------------------------------------------------------

  /** A connection opens (the first one is to a protected peer), making `count`. */
  connect(count: number): void {
    const protect = this.connections.length === 0
    this.connections.push({ id: ++this.#next, protected: protect, matureAt: this.clock.now })
    if (this.roundsInFlight() > 0 && count > this.settings.high) this.openedAboveDuringRound = true
    this.#report(count)
  }

  /** A connection closes, leaving `count`: the round's next victim while one runs and can close one, else the remote hangs up. */
  disconnect(count: number): void {
    const round = this.rounds.find((r) => !r.settled && !r.signal.aborted)
    const closable = this.open().filter((c) => !c.protected && c.matureAt <= this.clock.now)
    const victim = round && this.count() > this.settings.low ? closable.at(-1) : undefined
    if (victim && round) {
      victim.closedBy = 'round'
      round.closed++
    } else {
      const gone = this.open().sort((a, b) => Number(a.protected) - Number(b.protected))[0]
      if (!gone) throw new Error('no connection to close')
      gone.closedBy = 'remote'
    }
    this.#report(count)
  }

  /**
   * The round in flight reports. `spared`: it spared connections in their grace period (which it
   * needed to close to reach the low watermark), to be looked at again in `graceMs`.
   */
  finishRound(spared: boolean): void {
    const round = this.pendingRound()
    const { low, graceMs } = this.settings
    const unprotected = this.open().filter((c) => !c.protected)
    if (spared) {
      if (this.count() <= low || unprotected.length === 0) throw new Error('nothing above the low watermark to spare')
      for (const c of unprotected) c.matureAt = this.clock.now + graceMs
      this.recheckAt = this.clock.now + graceMs
    } else {
      if (this.count() > low && unprotected.length > 0)
        throw new Error('a round that spares nothing leaves no closable connection above the low watermark')
      this.recheckAt = undefined
    }
    this.lastRound = 'ok'
    this.owesRound = this.openedAboveDuringRound
    this.aboveHighSinceRound = false
    const report: PruneRound = {
      closed: round.closed,
      protected: this.open().length - unprotected.length,
      young: spared ? unprotected.length : 0,
      recheckInMs: spared ? graceMs : null,
    }
    this.finished++
    this.pruned += round.closed
    this.report = report
    this.lastError = null
    round.resolve(report)
  }

  failRound(error: Error): void {
    const round = this.pendingRound()
    this.lastRound = 'failed'
    this.lastError = error.message
    // a failed round owes nothing: the next connection above the watermark starts one
    this.owesRound = false
    this.aboveHighSinceRound = false
    this.recheckAt = undefined
    round.reject(error)
  }

  /** A client asks for a look now. */
  check(actor: AnyActor): void {
    if (this.roundsInFlight() > 0 && this.count() > this.settings.high) this.openedAboveDuringRound = true
    actor.send({ type: 'pruner.check' })
  }

  stop(actor: AnyActor): void {
    this.stopAsked = true
    actor.send({ type: 'pruner.stop' })
  }
}

export function prunerAlways(w: PrunerWorld, actor: AnyActor): void {
  check(w.violations.length === 0, w.violations.join('; '))
  // what a client sees of the pruner follows the world's own account (a stopped one hears no count)
  const view = prunerPublicContext(actor.getSnapshot().context)
  const { alias, high, low, graceMs } = w.settings
  const expected = {
    alias,
    high,
    low,
    graceMs,
    connections: w.stopAsked ? view.connections : w.count(),
    pruned: w.pruned,
    rounds: w.finished,
    lastRound: w.report,
    lastError: w.lastError,
  }
  check(
    JSON.stringify(view) === JSON.stringify(expected),
    `the pruner shows ${JSON.stringify(view)}, the world ${JSON.stringify(expected)}`,
  )
  check(w.roundsInFlight() <= 1, `${w.roundsInFlight()} rounds in flight`)
  const lost = w.connections.filter((c) => c.protected && c.closedBy === 'round')
  check(lost.length === 0, 'a round closed a protected connection')
  const early = w.connections.filter((c) => c.closedBy === 'round' && c.matureAt > w.clock.now)
  check(early.length === 0, 'a round closed a connection in its grace period')
  check(w.stopAsked || w.watchers.size === 1, `${w.watchers.size} watches on the connections`)
}

/** Per state, what the world must look like (from src/machines/catalog.ts and docs/statecharts/pruner.md). */
export const prunerInvariants: Invariants<PrunerWorld> = {
  idle: (w) => {
    check(w.roundsInFlight() === 0, 'idle with a round in flight')
    check(!w.stopAsked, 'idle after its node stopped it')
    check(!w.owesRound, 'idle, and a connection opened above the high watermark during the last round')
    check(w.clock.armed.size === 0, 'idle with a recheck armed')
    // only a failed round leaves it above the watermark, until libp2p reports the count again
    check(
      w.count() <= w.settings.high || (w.lastRound === 'failed' && !w.aboveHighSinceRound),
      `idle with ${w.count()} connections, above the high watermark ${w.settings.high}`,
    )
  },
  pruning: (w) => {
    check(w.roundsInFlight() === 1, `pruning with ${w.roundsInFlight()} rounds in flight`)
    check(!w.stopAsked, 'pruning after the stop')
  },
  grace: (w) => {
    check(w.roundsInFlight() === 0, 'waiting out a grace period with a round in flight')
    check(!w.stopAsked, 'in grace after its node stopped it')
    check(!w.owesRound, 'in grace, and a connection opened above the high watermark during the last round')
    check(w.recheckAt !== undefined, 'in grace, and the last round spared nobody')
    const armed = [...w.clock.armed.values()]
    check(armed.length === 1 && armed[0]?.at === w.recheckAt, `no look armed for when the spared connections mature (${w.recheckAt})`)
    check(!w.aboveHighSinceRound, `in grace while ${w.count()} connections went above the high watermark since the round`)
  },
  stopped: (w) => {
    check(w.stopAsked, 'stopped, and its node never stopped it')
    check(w.roundsInFlight() === 0, 'a round still in flight after stopping')
    check(w.watchers.size === 0, 'still watching the connections after stopping')
    check(w.clock.armed.size === 0, 'a recheck armed after stopping')
  },
}

export function prunerWorld(input: PrunerInput) {
  const world = new PrunerWorld(input)
  return { world, machine: prunerMachine.provide({ actors: world.effects }), clock: world.clock, attach: world.attach }
}
