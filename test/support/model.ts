// ---------------------------------------------------------------------------------------------
// Model-based tests with an independent oracle.
//
// Paths come from the machine (pure traversal with `xstate/graph`, `edgePaths`). Each path is then run
// against the REAL actor whose effects are bound to a fake WORLD (a routing table, a GossipSub,
// started nodes, armed timers...). The fake effects mutate the world; after every step the
// hand-written invariants of every active state are checked against the world, never against the
// machine. Coverage is measured on the real actor (its microsteps, `always` included).
// ---------------------------------------------------------------------------------------------

import { describe, expect, it } from 'vitest'
import {
  type ActorLogic,
  type AnyActor,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
  initialTransition,
  transition,
} from 'xstate'
import { getStateNodes, TestModel } from 'xstate/graph'
import { EventProbe } from './fakes.ts'

/** The clock an actor takes (xstate does not export its type). */
type Clock = NonNullable<Parameters<typeof createActor>[1]>['clock'] & {}

/**
 * A machine together with what its environment holds at that moment. The environment decides which
 * outside events can happen next: a promise can settle only while its invocation is live, a timer
 * can fire only while it is armed.
 */
export interface ModelState {
  status: AnyMachineSnapshot['status']
  output: undefined
  error: undefined
  snapshot: AnyMachineSnapshot
  /** Children started and neither stopped nor settled, by id. */
  live: string[]
  /** Delayed events armed and not cancelled, by send id (for `after`, the event type). */
  timers: string[]
  /** What the step that led here emitted, in order. */
  emitted: EventObject[]
}

export interface ModelSpec {
  machine: AnyStateMachine
  input: unknown
  /** Everything a step asserts about a real actor; also names the model's abstract states. */
  key: (snapshot: AnyMachineSnapshot) => string
  /** The events the outside world can produce in this state. */
  events: (state: ModelState) => EventObject[]
}

const DONE = 'xstate.done.actor.'
const ERROR = 'xstate.error.actor.'

/** An action `transition` hands back instead of executing it. */
type Action = { type: string; params?: unknown }

function step(prev: Pick<ModelState, 'live' | 'timers'>, snapshot: AnyMachineSnapshot, actions: readonly Action[], event?: EventObject) {
  const live = new Set(prev.live)
  const timers = new Set(prev.timers)
  if (event?.type.startsWith(DONE)) live.delete(event.type.slice(DONE.length))
  if (event?.type.startsWith(ERROR)) live.delete(event.type.slice(ERROR.length))
  if (event) timers.delete(event.type)
  const emitted: EventObject[] = []
  for (const action of actions) {
    const params = action.params as Record<string, unknown> | undefined
    if (action.type === 'xstate.spawnChild' && typeof params?.id === 'string') live.add(params.id)
    if (action.type === 'xstate.stopChild' && typeof params?.id === 'string') live.delete(params.id)
    if (action.type === 'xstate.raise' && params?.delay !== undefined && typeof params.id === 'string') timers.add(params.id)
    if (action.type === 'xstate.cancel' && typeof params?.sendId === 'string') timers.delete(params.sendId)
    if (action.type === 'xstate.emit') emitted.push(params?.event as EventObject)
  }
  const done = snapshot.status !== 'active'
  return {
    status: snapshot.status,
    output: undefined,
    error: undefined,
    snapshot,
    // a machine that is done has stopped its children and cancelled its timers
    live: done ? [] : [...live].sort(),
    timers: done ? [] : [...timers].sort(),
    emitted,
  } satisfies ModelState
}

/**
 * The machine as pure logic for `xstate/graph`. Each step runs through xstate's pure `transition`,
 * which gives every call a fresh system, so children spawned with a `systemId` on one branch of the
 * traversal never collide with those of another.
 */
export function modelLogic(spec: ModelSpec): ActorLogic<ModelState, EventObject, unknown> {
  return {
    getInitialSnapshot: () => {
      const [snapshot, actions] = initialTransition(spec.machine, spec.input)
      return step({ live: [], timers: [] }, snapshot, actions)
    },
    transition: (state, event) => {
      const [snapshot, actions] = transition(spec.machine, state.snapshot, event as never)
      return step(state, snapshot, actions, event)
    },
    getPersistedSnapshot: (state) => state,
  }
}

export function serializeModelState(spec: ModelSpec, state: ModelState): string {
  return `${spec.key(state.snapshot)} live=[${state.live.join(',')}] timers=[${state.timers.join(',')}]`
}

export function testModel(spec: ModelSpec) {
  return new TestModel(modelLogic(spec), {
    serializeState: (state) => serializeModelState(spec, state),
    events: (state) => (state.status === 'active' ? spec.events(state) : []),
  })
}

function nth<T>(items: readonly T[], i: number): T {
  const item = items.at(i)
  if (item === undefined) throw new Error(`no item at ${i} of ${items.length}`)
  return item
}

/** The id of the one invocation of `src` in the machine: the suffix of its done and error events. */
export function invokeId(machine: AnyStateMachine, src: string): string {
  const ids = getStateNodes(machine.root).flatMap((n) => n.invoke.filter((i) => i.src === src).map((i) => i.id))
  if (ids.length !== 1) throw new Error(`${machine.id} invokes ${src} ${ids.length} times; expected once`)
  return nth(ids, 0)
}

export const doneEvent = <T>(id: string, output: T) => ({ type: `xstate.done.actor.${id}`, output })
export const errorEvent = (id: string, error: Error) => ({ type: `xstate.error.actor.${id}`, error })

export function allStateIds(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .map((n) => n.id)
    .sort()
}

/**
 * Paths that take every edge of the abstract state graph: for each abstract state and each event the
 * world can produce there, the shortest path to the state followed by that event. A path that is a
 * prefix of another is dropped (the longer one checks the same steps). This exercises each
 * transition from every abstract state where it is enabled, with every event variant, not just once.
 */
export function edgePaths(spec: ModelSpec): EventObject[][] {
  const model = testModel(spec)
  const adjacency: Record<string, { transitions: Record<string, { event: EventObject; state: ModelState }> }> =
    model.getAdjacencyMap() as never
  const keyOf = (state: ModelState) => serializeModelState(spec, state)
  // one traversal: breadth-first over the adjacency map gives the shortest path to every state
  const start = keyOf(modelLogic(spec).getInitialSnapshot(undefined as never, spec.input))
  const byState = new Map<string, EventObject[]>([[start, []]])
  const queue = [start]
  for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
    const head = byState.get(key) ?? []
    for (const { event, state } of Object.values(adjacency[key]?.transitions ?? {})) {
      const next = keyOf(state)
      if (byState.has(next)) continue
      byState.set(next, [...head, event])
      queue.push(next)
    }
  }
  const all: EventObject[][] = [...byState.values()]
  for (const [key, { transitions }] of Object.entries(adjacency)) {
    const head = byState.get(key)
    if (!head) throw new Error(`no path reaches ${key}`)
    for (const { event } of Object.values(transitions)) all.push([...head, event])
  }
  const text = (events: EventObject[]) => events.map((e) => JSON.stringify(e))
  const prefixes = new Set<string>()
  for (const path of all) {
    const parts = text(path)
    for (let n = 0; n < parts.length; n++) prefixes.add(parts.slice(0, n).join('\n'))
  }
  const kept = new Map<string, EventObject[]>()
  for (const path of all) {
    const id = text(path).join('\n')
    if (!prefixes.has(id)) kept.set(id, path)
  }
  return [...kept.values()].sort((a, b) => a.length - b.length)
}

/** A clock the world owns: timers are visible (armed, with their duration) and fire only when advanced. */
export class WorldClock implements Clock {
  now = 0
  #next = 1
  readonly armed = new Map<number, { at: number; ms: number; fn: () => void }>()
  /** Durations of the timers that fired, in order. */
  readonly fired: number[] = []

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++
    this.armed.set(id, { at: this.now + ms, ms, fn })
    return id
  }

  clearTimeout(id: number): void {
    this.armed.delete(id)
  }

  /** Timers armed for `ms`. */
  armedFor(ms: number): number {
    return [...this.armed.values()].filter((t) => t.ms === ms).length
  }

  /** Move time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      const due = [...this.armed.entries()].filter(([, t]) => t.at <= until).sort(([, a], [, b]) => a.at - b.at)[0]
      if (!due) break
      const [id, timer] = due
      this.armed.delete(id)
      this.now = timer.at
      this.fired.push(timer.ms)
      timer.fn()
    }
    this.now = until
  }

  /** Fire the earliest armed timer of duration `ms`; throws when none is armed (the world cannot produce it). */
  fire(ms: number): void {
    const due = [...this.armed.values()].filter((t) => t.ms === ms).sort((a, b) => a.at - b.at)[0]
    if (!due) throw new Error(`no ${ms} ms timer is armed in the world`)
    this.advance(due.at - this.now)
  }
}

/** A violated invariant: thrown by `check`, reported with the path that led to it. */
export class WorldViolation extends Error {}

/** Assert a fact about the world; `what` says it in words. */
export function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new WorldViolation(what)
}

/** What a world-bound harness returns: the world, the machine with fakes bound to it and its clock. */
export interface WorldBinding<W> {
  world: W
  machine: AnyStateMachine
  clock: WorldClock
  /** Called once the actor exists, before it starts (to listen to what it emits, say). */
  attach?: (actor: AnyActor) => void
}

/** Hand-written invariants, by state path relative to the root (`bootstrapping`, `joined.meshForming`). */
export type Invariants<W> = Record<string, (world: W) => void>

export interface WorldModelSpec<W> extends ModelSpec {
  /** Which input this is, when one machine is described with several (its roles, say): names its path tests. */
  label?: string
  /** A fresh world and the machine under test with every effect bound to it. */
  bind: () => WorldBinding<W>
  /** Make the world produce `event` (the actor must process an event of that type as a result). */
  perform: (world: W, event: EventObject, actor: AnyActor, clock: WorldClock) => unknown
  /** What must hold in the world in each state; every state of the machine needs one. */
  invariants: Invariants<W>
  /** What must hold in the world whatever the state (checked after every step too). */
  always?: (world: W, actor: AnyActor) => void
}

/** `dht.bootstrapping` -> `bootstrapping`: the key of a state node in `invariants`. */
export const statePath = (machine: AnyStateMachine, id: string) => id.slice(machine.id.length + 1)

/** A transition of the definition, `always` included: source, event (or `always`), index among candidates, targets. */
export function transitionKeyOf(t: AnyTransitionDefinition): string {
  const target = t.target?.map((n) => n.id).join(',') ?? '(stays)'
  const always = t.source.always ?? []
  if (always.includes(t)) return `${t.source.id} always #${always.indexOf(t)} -> ${target}`
  const candidates = t.source.transitions.get(t.eventType) ?? []
  return `${t.source.id} on ${t.eventType} #${candidates.indexOf(t)} -> ${target}`
}

/** Every transition of the machine: event-driven, delayed, invoke done/error, and eventless `always` ones. */
export function everyTransition(machine: AnyStateMachine): string[] {
  const keys: string[] = []
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const candidates of node.transitions.values()) keys.push(...candidates.map(transitionKeyOf))
    keys.push(...(node.always ?? []).map(transitionKeyOf))
  }
  return keys.sort()
}

export const countAlways = (keys: readonly string[]) => keys.filter((k) => k.includes(' always #')).length

/** What running one path against the real actor showed. */
export interface PathRun {
  /** Transitions the real actor took (its own microsteps), each after the world checked out. */
  taken: Set<string>
  /** States the real actor was in when the world was checked. */
  visited: Set<string>
}

const briefValue = (v: unknown): string => {
  if (v instanceof Error) return v.message
  if (v !== null && typeof v === 'object' && 'id' in v) return String(v.id)
  const json = JSON.stringify(v) ?? 'undefined'
  return json.length > 30 ? `${json.slice(0, 29)}…` : json
}

/** One event of a path, short but with its payload: `dht.peerConnected(1)`, `done:bootstrap(0)`, `after:bootstrapTimeout`. */
export function briefEvent(event: EventObject): string {
  const { type, ...rest } = event as EventObject & Record<string, unknown>
  const args = Object.values(rest).map(briefValue).join(',')
  for (const [prefix, name] of [
    [DONE, 'done'],
    [ERROR, 'error'],
  ] as const) {
    if (type.startsWith(prefix)) return `${name}:${type.slice(prefix.length)}(${args})`
  }
  if (type.startsWith('xstate.after.')) return `after:${type.split('.')[2]}`
  return args ? `${type}(${args})` : type
}

export const describeWorldPath = (events: EventObject[]) => events.map(briefEvent).join(' → ') || '(initial state)'

/** Drive a world-bound actor along `events`, checking the world's invariants after every step. */
export async function runWorldPath<W>(spec: WorldModelSpec<W>, events: EventObject[]): Promise<PathRun> {
  const where = describeWorldPath(events)
  const { world, machine, clock, attach } = spec.bind()
  const probe = new EventProbe()
  let steps: AnyTransitionDefinition[] = []
  let root: AnyActorRef | undefined
  const actor = createActor(machine, {
    input: spec.input,
    clock,
    inspect: (e) => {
      probe.inspect(e)
      // the first event is the root's own: its initial microsteps (`always` ones included) come before createActor returns
      root ??= e.actorRef as AnyActorRef
      if (e.type === '@xstate.microstep' && e.actorRef === root) steps.push(...e._transitions)
    },
  })
  root = actor
  probe.attach(actor)
  attach?.(actor)
  const run: PathRun = { taken: new Set(), visited: new Set() }
  const verify = (at: string) => {
    const snapshot = actor.getSnapshot() as AnyMachineSnapshot
    if (snapshot.status === 'error') throw new WorldViolation(`${at}: the actor errored: ${String(snapshot.error)}`)
    // a transient state (left by an unguarded `always`) never rests: it is checked on the step that passed through it
    const passed = steps.map((t) => t.source).filter((n) => n.always?.some((a) => !a.guard) && !snapshot._nodes.includes(n))
    const states = [...new Set([...snapshot._nodes.filter((n) => n !== machine.root), ...passed])].map((n) => statePath(machine, n.id))
    try {
      spec.always?.(world, actor)
      for (const state of states) {
        const invariant = spec.invariants[state]
        if (!invariant) throw new WorldViolation(`no invariant is written for state ${state}`)
        invariant(world)
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      throw new WorldViolation(`${at}, in ${JSON.stringify(snapshot.value)}: ${message}`)
    }
    for (const state of states) run.visited.add(state)
    for (const t of steps) run.taken.add(transitionKeyOf(t))
    steps = []
  }
  try {
    actor.start()
    verify(`initial state of path [${where}]`)
    for (const [i, event] of events.entries()) {
      const at = `step ${i + 1} (${briefEvent(event)}) of path [${where}]`
      try {
        await probe.after(event.type, () => spec.perform(world, event, actor, clock), 2_000)
      } catch (err) {
        throw new WorldViolation(`${at}: ${err instanceof Error ? err.message : String(err)}`)
      }
      verify(at)
    }
  } finally {
    actor.stop()
  }
  return run
}

/**
 * The model-based tests of a machine against a fake world: one test per path (named by its events),
 * then one that every state and every transition of the definition, `always` included, was taken by
 * the real actor with the world checked after it. A machine whose input decides what it can do (the
 * two roles of a pairing) is described with one spec per input, each with a `label`: paths of each,
 * one coverage check over all of them.
 */
export function describeWorldModel<W>(name: string, spec: WorldModelSpec<W>, ...more: WorldModelSpec<W>[]): void {
  const specs = [spec, ...more]
  describe(`${name} machine, model-based against a fake world`, () => {
    const t0 = performance.now()
    // a machine that throws while its paths are generated fails a test (a throw here would collect no tests at all)
    let paths: { spec: WorldModelSpec<W>; events: EventObject[] }[] = []
    try {
      paths = specs.flatMap((s) => edgePaths(s).map((events) => ({ spec: s, events })))
    } catch (err) {
      it('generates its paths from the machine', () => {
        throw err
      })
    }
    if (process.env.MODEL_TIMING) console.info(`${name}: ${paths.length} paths generated in ${Math.round(performance.now() - t0)} ms`)
    const runs = new Map<number, Promise<PathRun>>()
    const runPath = (i: number) => {
      let run = runs.get(i)
      if (!run) {
        const path = nth(paths, i)
        run = runWorldPath(path.spec, path.events)
        // a failing path is reported by its own test; the coverage test only counts what passed
        run.catch(() => {})
        runs.set(i, run)
      }
      return run
    }

    it('has a hand-written world invariant for every state', () => {
      for (const s of specs) {
        if (s.machine !== spec.machine) throw new Error(`${s.label ?? 'a spec'} describes another machine than ${name}`)
        const missing = allStateIds(s.machine)
          .map((id) => statePath(s.machine, id))
          .filter((state) => !(state in s.invariants))
        expect(missing, `states without an invariant${s.label ? ` (${s.label})` : ''}`).toEqual([])
      }
    })

    // paths run in groups (one test each keeps a big model slow to report); a failure lists every failing path
    const GROUP = 25
    for (const s of specs) {
      const first = paths.findIndex((p) => p.spec === s)
      const last = paths.findLastIndex((p) => p.spec === s) + 1
      for (let from = first; from < last; from += GROUP) {
        const to = Math.min(from + GROUP, last)
        const label = s.label ? ` (${s.label})` : ''
        it(`paths ${from + 1}-${to} of ${paths.length}${label}: the world holds after every step`, async () => {
          const failures: string[] = []
          for (let i = from; i < to; i++) {
            await runPath(i).catch((err: unknown) => failures.push(`path ${i + 1}: ${err instanceof Error ? err.message : String(err)}`))
          }
          if (failures.length > 0) throw new WorldViolation(`${failures.length} of ${to - from} paths failed:\n${failures.join('\n')}`)
        })
      }
    }

    it('the real actor takes every transition (always included) and visits every state, with the world checked', async () => {
      const taken = new Set<string>()
      const visited = new Set<string>()
      const failed: number[] = []
      for (const [i] of paths.entries()) {
        try {
          const run = await runPath(i)
          for (const t of run.taken) taken.add(t)
          for (const s of run.visited) visited.add(s)
        } catch {
          failed.push(i + 1)
        }
      }
      const states = allStateIds(spec.machine).map((id) => statePath(spec.machine, id))
      const transitions = everyTransition(spec.machine)
      const coverage = {
        states: `${states.filter((s) => visited.has(s)).length}/${states.length}`,
        transitions: `${transitions.filter((t) => taken.has(t)).length}/${transitions.length}`,
        always: `${countAlways(transitions.filter((t) => taken.has(t)))}/${countAlways(transitions)}`,
        paths: paths.length,
      }
      console.info(`${name} model coverage: ${JSON.stringify(coverage)}`)
      expect(failed, 'paths that failed').toEqual([])
      expect(
        states.filter((s) => !visited.has(s)),
        'states never visited',
      ).toEqual([])
      expect(
        transitions.filter((t) => !taken.has(t)),
        'transitions never taken',
      ).toEqual([])
    })
  })
}
