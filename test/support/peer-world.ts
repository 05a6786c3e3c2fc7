import {
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  type EventObject,
  fromPromise,
  type InspectionEvent,
} from 'xstate'
import { getStateNodes, TestModel } from 'xstate/graph'
import type { NodeRuntimes } from '../../src/actors/node/node-runtimes.ts'
import { bindMachines } from '../../src/actors/supervisor/system.ts'
import type { BackoffSettings, ConnectionType, DialResult, PeerContext } from '../../src/machines/peer/peer.types.ts'
import type { KnownPeer } from '../../src/p2p/known-peers.ts'
import { type ModelState, modelLogic } from './model.ts'

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
    return boundPeerMachine(this.runtimes()).provide({ actors: { dial: this.dial, hangUp: this.hangUp } })
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
  const out: string[] = []
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

  switch (state) {
    case 'connected':
      need(conns.length > 0, 'connected without an open connection in the world')
      need(dials === 0, 'connected with a dial in flight')
      need(timers.length === 0, 'connected with a retry timer armed')
      need(c.lastError === null, `connected with lastError ${c.lastError}`)
      need(c.connectionType !== 'none', 'connected with connectionType none')
      break
    case 'connecting':
      need(dials === 1, `connecting with ${dials} dials in flight`)
      need(timers.length === 0, 'connecting with a timer armed')
      break
    case 'retrying': {
      // between the tries of an explicit connect: no dial, the next try armed a fixed pause away
      need(dials === 0, 'retrying with a dial in flight')
      need(
        timers.length === 1 && timers[0]?.delay === backoff.explicitRetryMs,
        `retrying with timers ${JSON.stringify(timers.map((t) => t.delay))}`,
      )
      need(c.lastError !== null, 'retrying without lastError')
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
      break
    }
    case 'failed':
      need(dials === 0, 'failed with a dial in flight')
      need(timers.length === 0, 'failed with a timer armed')
      need(c.lastError !== null, 'failed without lastError')
      // becoming wanted dials again: a wanted peer is never left failed
      need(!wanted, 'a wanted peer left in failed')
      break
    case 'disconnected':
      need(dials === 0, 'disconnected with a dial in flight')
      need(timers.length === 0, 'disconnected with a timer armed')
      // a wanted peer is dialled at once
      need(!wanted, 'a wanted peer left disconnected')
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
 * Paths generated from the machine with xstate/graph: the shortest path to every abstract state,
 * then each of them extended by every event the world can produce there. Expected states are never
 * taken from here: only the events are.
 */
export function generatePaths(spec: PathSpec): EventObject[][] {
  const logic = modelLogic({
    machine: spec.machine,
    input: spec.input,
    key: spec.key,
    events: (s) => spec.events(s.snapshot, s.live, s.timers),
  })
  const serialize = (s: ModelState) => `${spec.key(s.snapshot)} live=[${s.live}] timers=[${s.timers}]`
  const model = new TestModel(logic, {
    serializeState: serialize,
    events: (s) => (s.status === 'active' ? spec.events(s.snapshot, s.live, s.timers) : []),
  })
  const heads = new Map<string, EventObject[]>()
  for (const path of model.getShortestPaths({ allowDuplicatePaths: true }))
    heads.set(
      serialize(path.state),
      path.steps.slice(1).map((s) => s.event),
    )
  const paths: EventObject[][] = []
  for (const [key, { transitions }] of Object.entries(model.getAdjacencyMap())) {
    const head = heads.get(key)
    if (!head) throw new Error(`no path reaches ${key}`)
    for (const { event } of Object.values(transitions) as { event: EventObject }[]) paths.push([...head, event])
  }
  return paths
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
  readonly #created = new Map<string, number>()
  readonly #received = new Map<string, string[]>()

  readonly inspect = (event: InspectionEvent) => {
    // the shard gives its children the same id and system id; the system id is set only after `@xstate.actor`
    const systemId = (event.actorRef as AnyActorRef).id
    if (event.type === '@xstate.actor') this.#created.set(systemId, (this.#created.get(systemId) ?? 0) + 1)
    if (event.type === '@xstate.event' && event.sourceRef !== event.actorRef && !event.event.type.startsWith('xstate.')) {
      this.#received.set(systemId, [...(this.#received.get(systemId) ?? []), event.event.type])
    }
  }

  created(systemId: string): number {
    return this.#created.get(systemId) ?? 0
  }

  received(systemId: string): string[] {
    return this.#received.get(systemId) ?? []
  }
}
