import { describe, expect, it } from 'vitest'
import {
  type ActorLogic,
  type AnyActor,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
  initialTransition,
  SimulatedClock,
  transition,
} from 'xstate'
import { getStateNodes, type StatePath, TestModel } from 'xstate/graph'
import { EventProbe } from './fakes.ts'

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

/** A transition of the definition: its source state, event and place among the candidates. */
export function transitionKey(t: AnyTransitionDefinition): string {
  const candidates = t.source.transitions.get(t.eventType) ?? []
  const target = t.target?.map((n) => n.id).join(',') ?? '(stays)'
  return `${t.source.id} on ${t.eventType} #${candidates.indexOf(t)} -> ${target}`
}

/** Every event-driven transition of the machine (eventless `always` transitions are not counted). */
export function allTransitions(machine: AnyStateMachine): string[] {
  const keys: string[] = []
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const candidates of node.transitions.values()) keys.push(...candidates.map(transitionKey))
  }
  return keys.sort()
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

/** The transitions the machine selects for `event` in `snapshot`. */
export function takenTransitions(snapshot: AnyMachineSnapshot, event: EventObject): string[] {
  return snapshot.machine.getTransitionData(snapshot as never, event as never).map(transitionKey)
}

export type ModelPath = StatePath<ModelState, EventObject>

/** The events of a path, without the `xstate.init` step that opens it. */
export const eventsOf = (path: ModelPath): EventObject[] => path.steps.slice(1).map((s) => s.event)

/**
 * The states a path passes through, recomputed from its events: `xstate/graph` keeps one state
 * object per serialized state, which may come from another path into it (same key, other emits).
 */
export function replay(spec: ModelSpec, events: EventObject[]): ModelState[] {
  const logic = modelLogic(spec)
  let state = logic.getInitialSnapshot(undefined as never, spec.input)
  const states = [state]
  for (const event of events) {
    state = logic.transition(state, event, undefined as never)
    states.push(state)
  }
  return states
}

/**
 * Paths for the model: the shortest path to every abstract state, plus, for each transition those
 * paths never take, the shortest path to a state where it is enabled extended by the event that
 * takes it. Together they reach every reachable state and take every reachable transition.
 */
export function coveringPaths(spec: ModelSpec): {
  paths: EventObject[][]
  taken: Set<string>
  reached: Set<string>
} {
  const model = testModel(spec)
  const shortest = model.getShortestPaths({ allowDuplicatePaths: true })
  const byState = new Map(shortest.map((p) => [serializeModelState(spec, p.state), eventsOf(p)]))
  const taken = new Set<string>()
  const reached = new Set<string>()
  const record = (events: EventObject[]) => {
    const states = replay(spec, events)
    for (const node of nth(states, -1).snapshot._nodes) if (node !== spec.machine.root) reached.add(node.id)
    events.forEach((event, i) => {
      for (const t of takenTransitions(nth(states, i).snapshot, event)) taken.add(t)
    })
  }
  const paths = [...byState.values()]
  paths.forEach(record)
  for (const [key, { state, transitions }] of Object.entries(model.getAdjacencyMap())) {
    for (const { event } of Object.values(transitions) as { event: EventObject }[]) {
      if (takenTransitions(state.snapshot, event).every((t) => taken.has(t))) continue
      const head = byState.get(key)
      if (!head) throw new Error(`no path reaches ${key}`)
      const path = [...head, event]
      record(path)
      paths.push(path)
    }
  }
  return { paths, taken, reached }
}

/** A real actor of the machine with fakes bound, and the means to make its world produce an event. */
export interface Harness {
  actor: AnyActor
  probe: EventProbe
  /** Everything the actor emitted, in order. */
  emitted: EventObject[]
  /** Make the outside world produce `event`: send it, settle a fake, tick the clock. */
  perform(event: EventObject): unknown
}

/**
 * Start `machine` (fakes already bound) the way every harness does: a simulated clock, inspection
 * through an EventProbe, and every emitted event collected.
 */
export function startProbed(
  machine: AnyStateMachine,
  input: unknown,
  clock = new SimulatedClock(),
): Omit<Harness, 'perform'> & { clock: SimulatedClock } {
  const probe = new EventProbe()
  const actor = createActor(machine, { input, clock, inspect: probe.inspect })
  probe.attach(actor)
  const emitted: EventObject[] = []
  actor.on('*', (e) => emitted.push(e))
  actor.start()
  return { actor, probe, emitted, clock }
}

/**
 * The two model-based tests every machine gets: every state reached and every transition of the
 * definition taken by some path; and a real actor (from `harness`) following each path.
 */
export function describeModel(name: string, spec: ModelSpec, harness: () => Harness, extraChecks: () => void = () => {}): void {
  describe(`${name} machine, model-based`, () => {
    const { paths, taken, reached } = coveringPaths(spec)

    it('reaches every state and takes every transition of the definition', () => {
      extraChecks()
      expect([...reached].filter((id) => id !== spec.machine.id).sort()).toEqual(allStateIds(spec.machine))
      expect(allTransitions(spec.machine).filter((t) => !taken.has(t))).toEqual([])
    })

    it(`a real actor with fakes follows the model along all ${paths.length} paths`, async () => {
      for (const path of paths) await drivePath(spec, path, harness())
    })
  })
}

export const describePath = (events: EventObject[]) => events.map((e) => e.type).join(' → ') || '(initial state)'

/** Drive `harness` along the events of a path, checking after every step that the real actor is where the model is. */
export async function drivePath(spec: ModelSpec, events: EventObject[], harness: Harness): Promise<void> {
  const where = describePath(events)
  const expected = replay(spec, events)
  try {
    expect(spec.key(harness.actor.getSnapshot()), `initial state on ${where}`).toBe(spec.key(nth(expected, 0).snapshot))
    for (const [i, event] of events.entries()) {
      const from = harness.emitted.length
      await harness.probe.after(event.type, () => harness.perform(event))
      const real = harness.actor.getSnapshot() as AnyMachineSnapshot
      const model = nth(expected, i + 1)
      const at = `step ${i + 1} (${event.type}) of ${where}`
      expect(real.error, at).toBeUndefined()
      expect(spec.key(real), at).toBe(spec.key(model.snapshot))
      expect(real.status, at).toBe(model.status)
      expect(harness.emitted.slice(from), at).toEqual(model.emitted)
    }
  } finally {
    harness.actor.stop()
  }
}
