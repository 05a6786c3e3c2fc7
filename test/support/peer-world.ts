import {
  Actor,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  type EventObject,
  fromCallback,
  fromPromise,
  type InspectionEvent,
} from 'xstate'
import { getStateNodes } from 'xstate/graph'
import type { NodeRuntimes } from '../../src/actors/node/node-runtimes.ts'
import { bindMachines } from '../../src/actors/supervisor/system.ts'
import { NETWORK_BACK_YIELD_MS, retryDelay } from '../../src/machines/peer/peer.machine.ts'
import type {
  BackoffSettings,
  ConnectionType,
  DialResult,
  PeerContext,
  PeerEvent,
  SyncProgress,
} from '../../src/machines/peer/peer.types.ts'
import type { KnownPeer } from '../../src/p2p/known-peers.ts'
import { edgePaths } from './model.ts'

/*
 * The world a peer actor acts on, faked so that a test can look at it directly: dials in flight,
 * hang-ups in flight, open connections per peer, armed timers on a clock the test moves, and the
 * known-peers store. Model-based tests generate paths from the machine (xstate/graph), drive a real
 * actor (its effects bound to this world) along them, and after every step check invariants about
 * the world written by hand from what the machine's states mean, never computed by the machine.
 */

// ---------------------------------------------------------------------------------------------
// The clock: every timer xstate arms (delayed transitions) is visible with its delay
// ---------------------------------------------------------------------------------------------

export interface ArmedTimer {
  id: number
  delay: number
  at: number
  fire: () => void
}

/** An xstate Clock that keeps every armed timer in view; time moves only when the test fires one. */
export class WorldClock {
  now = 0
  #next = 1
  readonly #timers = new Map<number, ArmedTimer>()

  setTimeout(fn: () => void, delay: number): number {
    const id = this.#next++
    this.#timers.set(id, { id, delay, at: this.now + delay, fire: fn })
    return id
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id)
  }

  armed(): ArmedTimer[] {
    return [...this.#timers.values()].sort((a, b) => a.at - b.at || a.id - b.id)
  }

  /** Move time to the earliest armed timer's deadline and fire it. */
  fireNext(): ArmedTimer {
    const timer = this.armed()[0]
    if (!timer) throw new Error('no timer is armed')
    this.now = timer.at
    this.#timers.delete(timer.id)
    timer.fire()
    return timer
  }
}

// ---------------------------------------------------------------------------------------------
// The peer world
// ---------------------------------------------------------------------------------------------

/** One run of a fake dial or hang-up: pending until the world settles it, gone once aborted. */
export interface WorldCall {
  peerId: string
  signal: AbortSignal
  settled: boolean
  resolve(): void
  reject(error: Error): void
}

export interface StoreWrite {
  op: 'upsert' | 'remove'
  peerId: string
  peer?: KnownPeer
}

/** One run of the fake sync of a known peer's directory: reports back until it is stopped. */
export interface SyncRun {
  peerId: string
  stopped: boolean
  report(event: PeerEvent): void
}

/** What a client asked about one peer, tracked by the world from the requests it made. */
export interface Intent {
  known: boolean
  autoConnect: boolean
  added: boolean
}

/** The known-peers store as the peer actor's `persist` binding sees it; every write recorded. */
export class WorldStore {
  readonly peers = new Map<string, KnownPeer>()
  readonly writes: StoreWrite[] = []
  list = () => [...this.peers.values()]
  get = (peerId: string) => this.peers.get(peerId)
  has = (peerId: string) => this.peers.has(peerId)
  upsert = (peer: KnownPeer) => {
    this.writes.push({ op: 'upsert', peerId: peer.peerId, peer })
    this.peers.set(peer.peerId, peer)
    return Promise.resolve()
  }
  remove = (peerId: string) => {
    this.writes.push({ op: 'remove', peerId })
    this.peers.delete(peerId)
    return Promise.resolve()
  }
  flush = () => Promise.resolve()
}

/**
 * The peer machine exactly as the daemon binds it (src/actors/supervisor/system.ts: the `persist`
 * action writing to the node's known-peers store), over `runtimes`. Its dial and hang-up still need
 * binding: the test gives its fakes.
 */
export function boundPeerMachine(runtimes: NodeRuntimes): AnyStateMachine {
  const impl = (m: unknown) => (m as { implementations: { actors: Record<string, unknown> } }).implementations.actors
  const supervisor = bindMachines(runtimes)
  const peers = impl(impl(supervisor).node).peers
  const peer = impl(peers).peer as AnyStateMachine | undefined
  if (!peer?.implementations.actions.persist) throw new Error('bindMachines no longer binds the peer machine where this test looks')
  return peer
}

export class PeerWorld {
  readonly clock = new WorldClock()
  readonly store = new WorldStore()
  readonly activity: unknown[] = []
  readonly dials: WorldCall[] = []
  readonly hangUps: WorldCall[] = []
  /** Open connections by remote peer, each with its type. */
  readonly connections = new Map<string, ConnectionType[]>()
  /** What the client asked about each peer (addpeers/removepeers, peers.update). */
  readonly intents = new Map<string, Intent>()
  readonly syncs: SyncRun[] = []
  /** Things that were wrong when they happened (reported by the invariants after the step). */
  readonly violations: string[] = []

  // The world's own account of the one peer a model test follows, kept by the test as it makes
  // things happen (never read from the machine): what a client sees in its PeerState follows it.
  /** Type of the newest connection to the peer. */
  lastType: ConnectionType = 'none'
  /** When the peer's connection last came or went (libp2p's event time, or the dial's). */
  since = 0
  /** Failed attempts in a row: dial errors, a wanted peer's lost connection counting as the first. */
  failures = 0
  /** The last thing that went wrong (a dial, a hang-up, a sync), cleared by a connection. */
  lastError: string | null = null
  lastSyncAt: number | null = null
  /** A client's connect waits on its tries (triesLeft of them). */
  connectPending = false
  triesLeft = 0
  /** The client hung up the peer: nothing dials it until the client connects again. */
  held = false
  /** The known peer has files we may lack (it arrived, became known, or told us of a change): a sync is owed. */
  syncOwed = false
  /** Where the running sync is, as it reported. */
  syncProgress: SyncProgress | null = null
  /** Syncs that failed in a row on this connection: the next one is owed after a backoff. */
  syncFailures = 0
  /** A hang-up failed and left the connection open. */
  leftOpen = false

  constructor(readonly alias = 'm') {}

  intent(peerId: string): Intent {
    let i = this.intents.get(peerId)
    if (!i) {
      i = { known: false, autoConnect: false, added: false }
      this.intents.set(peerId, i)
    }
    return i
  }

  inFlight(list: WorldCall[], peerId: string): WorldCall[] {
    return list.filter((c) => c.peerId === peerId && !c.settled && !c.signal.aborted)
  }

  dialsTo(peerId: string): WorldCall[] {
    return this.inFlight(this.dials, peerId)
  }

  hangUpsOf(peerId: string): WorldCall[] {
    return this.inFlight(this.hangUps, peerId)
  }

  syncsOf(peerId: string): SyncRun[] {
    return this.syncs.filter((r) => r.peerId === peerId && !r.stopped)
  }

  open(peerId: string, type: ConnectionType): void {
    this.connections.set(peerId, [...(this.connections.get(peerId) ?? []), type])
  }

  closeAll(peerId: string): void {
    this.connections.delete(peerId)
  }

  connectionsTo(peerId: string): ConnectionType[] {
    return this.connections.get(peerId) ?? []
  }

  #call(list: WorldCall[], peerId: string, signal: AbortSignal, resolve: () => void, reject: (e: Error) => void): void {
    const call: WorldCall = {
      peerId,
      signal,
      settled: false,
      resolve: () => {
        call.settled = true
        resolve()
      },
      reject: (error) => {
        call.settled = true
        reject(error)
      },
    }
    list.push(call)
  }

  /** The effects of the peer machine, bound to this world. */
  readonly dial = fromPromise<DialResult, { alias: string; peerId: string }>(
    ({ input, signal }) =>
      new Promise<DialResult>((resolve, reject) =>
        this.#call(
          this.dials,
          input.peerId,
          signal,
          () => {
            // a dial that succeeds has opened a direct connection
            this.open(input.peerId, 'direct')
            resolve({ connectionType: 'direct', at: this.clock.now })
          },
          reject,
        ),
      ),
  )

  readonly hangUp = fromPromise<void, { alias: string; peerId: string }>(
    ({ input, signal }) =>
      new Promise<void>((resolve, reject) =>
        this.#call(
          this.hangUps,
          input.peerId,
          signal,
          () => {
            this.closeAll(input.peerId)
            resolve()
          },
          reject,
        ),
      ),
  )

  /** Sync a known peer's directory: runs until stopped, reporting what the world says. */
  readonly sync = fromCallback<PeerEvent, { alias: string; peerId: string }>(({ input, sendBack }) => {
    const run: SyncRun = { peerId: input.peerId, stopped: false, report: sendBack }
    if (!this.syncOwed) this.violations.push('a sync started with nothing to sync')
    this.syncs.push(run)
    // a sync that starts settles what was owed, and has fetched nothing yet
    this.syncOwed = false
    this.syncProgress = { blocksFetched: 0, blocksTotal: 0, bytes: 0 }
    return () => {
      run.stopped = true
    }
  })

  /** The fake runtimes the daemon's bindings read: this node's known-peers store and activity log. */
  runtimes(): NodeRuntimes {
    const runtime = { knownPeers: this.store }
    return {
      get: (alias: string) => (alias === this.alias ? runtime : undefined),
      shared: { activity: { add: (e: unknown) => this.activity.push(e) } },
    } as unknown as NodeRuntimes
  }

  /** The peer machine with the daemon's own persist binding and this world's dial and hang-up. */
  peerMachine(): AnyStateMachine {
    return boundPeerMachine(this.runtimes()).provide({ actors: { dial: this.dial, hangUp: this.hangUp, sync: this.sync } })
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants of the peer machine, about the world
// ---------------------------------------------------------------------------------------------

const wantedBy = (c: Pick<PeerContext, 'held'>, i: Intent) => !c.held && (i.added || (i.known && i.autoConnect))

/**
 * What must hold in the world for the peer actor's state, written from docs/statecharts/peer.md and
 * the catalog description. Returns the violations, empty when all hold.
 */
export function peerInvariants(world: PeerWorld, snapshot: AnyMachineSnapshot, backoff: BackoffSettings): string[] {
  const c = snapshot.context as PeerContext
  const peerId = c.peerId
  const intent = world.intent(peerId)
  const dials = world.dialsTo(peerId).length
  const hangUps = world.hangUpsOf(peerId).length
  const conns = world.connectionsTo(peerId)
  const timers = world.clock.armed()
  const wanted = wantedBy(c, intent)
  const out: string[] = [...world.violations]
  const need = (ok: boolean, what: string) => {
    if (!ok) out.push(what)
  }
  const value = JSON.stringify(snapshot.value)
  const state = typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]

  need(snapshot.status === 'active', `actor is ${snapshot.status}${snapshot.error ? ` (${String(snapshot.error)})` : ''}`)
  need(dials <= 1, `${dials} dials in flight to one peer`)
  need(timers.length <= 1, `${timers.length} timers armed for one peer`)
  // what the client asked is what the actor holds
  need(c.known === intent.known, `known is ${c.known}, the client made it ${intent.known}`)
  need(c.autoConnect === intent.autoConnect, `autoConnect is ${c.autoConnect}, the client made it ${intent.autoConnect}`)
  need(c.added === intent.added, `added is ${c.added}, the client made it ${intent.added}`)
  // known peers are on disk, with what the client set; forgotten (known: false) ones are not
  const stored = world.store.get(peerId)
  need((stored !== undefined) === intent.known, `known-peers store ${stored ? 'holds' : 'lacks'} the peer, known is ${intent.known}`)
  if (stored) need(stored.autoConnect === intent.autoConnect, `stored autoConnect ${stored.autoConnect}, want ${intent.autoConnect}`)
  if (state !== 'disconnecting') need(hangUps === 0, `a hang-up in flight in ${value}`)
  // what a client sees of the peer follows the world's own account
  need(
    c.lastError === world.lastError,
    `lastError is ${JSON.stringify(c.lastError)}, the world's last error ${JSON.stringify(world.lastError)}`,
  )
  need(c.since === world.since, `since is ${c.since}, the connection last came or went at ${world.since}`)
  need(c.lastSyncAt === world.lastSyncAt, `lastSyncAt is ${c.lastSyncAt}, the last sync finished at ${world.lastSyncAt}`)
  if (state !== 'connected' && state !== 'disconnecting') {
    const type = conns.length > 0 ? world.lastType : 'none'
    need(c.connectionType === type, `connectionType ${c.connectionType} with ${conns.length} connections (newest ${world.lastType})`)
    need(conns.length === 0 || world.leftOpen, `${value} while ${conns.length} connections are open`)
  }
  // a client's hang-up stops every dial; a client's connect is being tried, waited for or queued behind the hang-up
  // (a failed sync's retry is no dial: a held peer that connected anyway still syncs)
  const dialTimers = snapshot.matches({ connected: 'syncBackoff' }) ? 0 : timers.length
  if (world.held) need(dials === 0 && dialTimers === 0, `the client hung up, and ${dials} dials, ${dialTimers} timers`)
  const tries = world.connectPending ? world.triesLeft : 0
  need(c.triesLeft === tries, `${c.triesLeft} tries left, the client's connect has ${tries}`)
  if (world.connectPending)
    need(dials + timers.length + hangUps > 0, `a client's connect (${world.triesLeft} tries left) is neither tried nor waited for`)
  const syncs = world.syncsOf(peerId).length
  const syncing = snapshot.matches({ connected: 'syncing' })
  const syncBackoff = snapshot.matches({ connected: 'syncBackoff' })
  need(syncs === (syncing ? 1 : 0), `${syncs} syncs running in ${value}`)
  if (!syncing) need(c.syncProgress === null, `sync progress ${JSON.stringify(c.syncProgress)} with no sync running`)

  switch (state) {
    case 'connected':
      need(conns.length > 0, 'connected without an open connection in the world')
      need(dials === 0, 'connected with a dial in flight')
      if (syncBackoff) {
        // a failed sync is owed again, a backoff away (capped, jittered, growing with the failures in a row)
        need(intent.known, 'a sync backoff for a peer that is not known')
        need(world.syncOwed && world.syncFailures > 0, `a sync backoff with owed ${world.syncOwed}, ${world.syncFailures} failed syncs`)
        const expected = retryDelay({ peerId, failures: world.syncFailures, backoff })
        need(
          timers.length === 1 && timers[0]?.delay === expected,
          `sync backoff with timers ${JSON.stringify(timers.map((t) => t.delay))}, expected one of ${expected} ms`,
        )
      } else need(timers.length === 0, 'connected with a retry timer armed')
      // a connection clears the last error; only a failed sync of it sets one
      need(c.lastError === null || c.lastError.startsWith('sync: '), `connected with lastError ${c.lastError}`)
      need(
        c.connectionType === world.lastType,
        `connected with connectionType ${c.connectionType}, the newest connection is ${world.lastType}`,
      )
      if (syncing) {
        need(intent.known, 'syncing a peer that is not known')
        need(
          JSON.stringify(c.syncProgress) === JSON.stringify(world.syncProgress),
          `sync progress ${JSON.stringify(c.syncProgress)}, the sync reported ${JSON.stringify(world.syncProgress)}`,
        )
      } else if (!syncBackoff) need(!(world.syncOwed && intent.known), 'a known peer with files to sync is connected and not syncing')
      break
    case 'connecting':
      need(dials === 1, `connecting with ${dials} dials in flight`)
      need(timers.length === 0, 'connecting with a timer armed')
      need(!world.held, 'dialling a peer the client hung up')
      break
    case 'retrying': {
      // between the tries of an explicit connect: no dial, the next try armed a fixed pause away
      need(dials === 0, 'retrying with a dial in flight')
      need(
        timers.length === 1 && timers[0]?.delay === backoff.explicitRetryMs,
        `retrying with timers ${JSON.stringify(timers.map((t) => t.delay))}`,
      )
      need(c.lastError !== null, 'retrying without lastError')
      need(world.connectPending, "retrying, and no client's connect has tries left")
      break
    }
    case 'backoff': {
      need(dials === 0, 'backoff with a dial in flight')
      const delay = timers[0]?.delay
      need(timers.length === 1, `backoff with ${timers.length} timers armed`)
      // capped exponential backoff with jitter in [0.5, 1.5): never under half the first delay, never over the cap
      if (delay !== undefined)
        need(
          delay >= backoff.initialMs / 2 && delay <= backoff.maxMs,
          `backoff delay ${delay} outside [${backoff.initialMs / 2}, ${backoff.maxMs}]`,
        )
      need(wanted, 'backoff for a peer that is not wanted')
      need(!world.connectPending, "backing off while a client's connect has tries left")
      {
        const expected = retryDelay({ peerId, failures: world.failures, backoff })
        need(delay === expected, `backoff of ${delay} ms after ${world.failures} failures in a row, expected ${expected} ms`)
      }
      break
    }
    case 'yielding':
      // the network came back and the peer (the lower id) dials first: no dial of ours yet, one short wait armed
      need(dials === 0, 'yielding with a dial in flight')
      need(
        timers.length === 1 && timers[0]?.delay === NETWORK_BACK_YIELD_MS,
        `yielding with timers ${JSON.stringify(timers.map((t) => t.delay))}`,
      )
      need(wanted, 'yielding for a peer that is not wanted')
      need(!world.connectPending, "yielding while a client's connect has tries left")
      break
    case 'failed':
      need(dials === 0, 'failed with a dial in flight')
      need(timers.length === 0, 'failed with a timer armed')
      need(c.lastError !== null, 'failed without lastError')
      // becoming wanted dials again: a wanted peer is never left failed
      need(!wanted, 'a wanted peer left in failed')
      need(!world.connectPending, "failed while a client's connect has tries left")
      break
    case 'disconnected':
      need(dials === 0, 'disconnected with a dial in flight')
      need(timers.length === 0, 'disconnected with a timer armed')
      // a wanted peer is dialled at once
      need(!wanted, 'a wanted peer left disconnected')
      need(!world.connectPending, "disconnected while a client's connect waits")
      break
    case 'disconnecting':
      need(hangUps === 1, `disconnecting with ${hangUps} hang-ups in flight`)
      need(dials === 0, 'disconnecting with a dial in flight')
      need(timers.length === 0, 'disconnecting with a timer armed')
      break
    default:
      out.push(`unknown state ${value}`)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Paths from the machine (xstate/graph) and coverage measured on the real actors
// ---------------------------------------------------------------------------------------------

/** A transition of the definition: source, event (`always` for eventless) and place among the candidates. */
export function transitionName(t: AnyTransitionDefinition): string {
  const candidates = t.eventType === '' ? (t.source.always ?? []) : (t.source.transitions.get(t.eventType) ?? [])
  const target = t.target?.map((n) => n.id).join(',') ?? '(stays)'
  return `${t.source.id} on ${t.eventType || 'always'} #${candidates.indexOf(t)} -> ${target}`
}

/** Every transition of the machine, eventless and delayed ones included. */
export function everyTransition(machine: AnyStateMachine): string[] {
  const names: string[] = []
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const candidates of node.transitions.values()) names.push(...candidates.map(transitionName))
    names.push(...(node.always ?? []).map(transitionName))
  }
  return names.sort()
}

export const everyState = (machine: AnyStateMachine) =>
  getStateNodes(machine.root)
    .map((n) => n.id)
    .sort()

/**
 * What real actors of `machine` did: the transitions they took (from XState's microstep
 * inspection events, `always` included) and the states they were in.
 */
export class Coverage {
  readonly taken = new Set<string>()
  readonly visited = new Set<string>()
  constructor(readonly machine: AnyStateMachine) {}

  readonly inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.microstep') return
    const snapshot = event.snapshot as AnyMachineSnapshot
    if (snapshot.machine?.id !== this.machine.id) return
    for (const t of event._transitions) this.taken.add(transitionName(t))
    for (const node of snapshot._nodes) if (node !== snapshot.machine.root) this.visited.add(node.id)
  }

  missingTransitions(): string[] {
    return everyTransition(this.machine).filter((t) => !this.taken.has(t))
  }

  missingStates(): string[] {
    return everyState(this.machine).filter((s) => !this.visited.has(s))
  }
}

export interface PathSpec {
  machine: AnyStateMachine
  input: unknown
  /** The abstract state the graph is built over. */
  key: (snapshot: AnyMachineSnapshot) => string
  /** The events the world can produce in a state (`live` invocations and armed `timers` given). */
  events: (snapshot: AnyMachineSnapshot, live: string[], timers: string[]) => EventObject[]
}

/**
 * Paths generated from the machine with xstate/graph (the model harness's edgePaths): the shortest
 * path to every abstract state, then each of them extended by every event the world can produce
 * there, a path that is a prefix of another dropped. Expected states are never taken from here:
 * only the events are.
 */
export function generatePaths(spec: PathSpec): EventObject[][] {
  return edgePaths({
    machine: spec.machine,
    input: spec.input,
    key: spec.key,
    events: (s) => spec.events(s.snapshot, s.live, s.timers),
  })
}

/** A path as text: each event's type, with its fields except outputs and errors of settled actors and spawn inputs. */
export const describeEvents = (events: EventObject[]) =>
  events
    .map((e) => {
      const {
        type,
        output: _o,
        error: _e,
        input: _i,
        ...fields
      } = e as EventObject & { output?: unknown; error?: unknown; input?: unknown }
      return Object.keys(fields).length > 0 ? `${type}${JSON.stringify(fields)}` : type
    })
    .join(' → ') || '(initial state)'

/** Fan one inspection stream out to several observers. */
export const inspectAll =
  (...observers: ((event: InspectionEvent) => void)[]) =>
  (event: InspectionEvent) => {
    for (const o of observers) o(event)
  }

/** Resolve once `ref` (or anything) has processed an event of `type`, as XState's inspection reports. */
export class Processed {
  #waiters: { match: (e: InspectionEvent) => boolean; resolve: () => void }[] = []
  readonly inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot') return
    for (const w of [...this.#waiters]) {
      if (w.match(event)) {
        this.#waiters = this.#waiters.filter((x) => x !== w)
        w.resolve()
      }
    }
  }

  /** Run `trigger`, then wait until `ref` has processed an event of `type` (armed before the trigger). */
  async after(ref: AnyActorRef, type: string, trigger: () => unknown, timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const waiter = {
      match: (e: InspectionEvent) => e.type === '@xstate.snapshot' && e.actorRef === ref && e.event.type === type,
      resolve: () => {},
    }
    const seen = new Promise<void>((resolve, reject) => {
      waiter.resolve = resolve
      timer = setTimeout(() => reject(new Error(`the actor never processed ${type}`)), timeoutMs)
    })
    this.#waiters.push(waiter)
    try {
      await trigger()
      await seen
    } finally {
      clearTimeout(timer)
      this.#waiters = this.#waiters.filter((w) => w !== waiter)
    }
  }
}

/** The actors a shard's system creates and the events each receives, by system id, from inspection. */
export class ShardObserver {
  /** Every actor created, by ref: its system id is set only after `@xstate.actor` (its child id is a slot number). */
  readonly #created: AnyActorRef[] = []
  readonly #received = new Map<string, string[]>()

  readonly inspect = (event: InspectionEvent) => {
    if (event.type === '@xstate.actor') this.#created.push(event.actorRef as AnyActorRef)
    if (event.type === '@xstate.event' && event.sourceRef !== event.actorRef && !event.event.type.startsWith('xstate.')) {
      const systemId = systemIdOf(event.actorRef as AnyActorRef)
      this.#received.set(systemId, [...(this.#received.get(systemId) ?? []), event.event.type])
    }
  }

  created(systemId: string): number {
    return this.#created.filter((ref) => systemIdOf(ref) === systemId).length
  }

  received(systemId: string): string[] {
    return this.#received.get(systemId) ?? []
  }
}

/** An actor's system id, or its id when it has none. */
function systemIdOf(ref: AnyActorRef): string {
  return (ref instanceof Actor ? ref.systemId : undefined) ?? ref.id
}
