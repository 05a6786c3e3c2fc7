import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate'

/**
 * A machine's definition as plain JSON that xstate's `createMachine` accepts, in a browser or Node:
 * what `machines.list` sends, so a client can rebuild each machine and follow its actors from
 * `actor.snapshot` pushes. States, tags, descriptions, meta and every transition (`on`, `always`,
 * `after`, `onDone`, invoke `onDone`/`onError`/`onSnapshot`) are kept; effects are named, never bound:
 * actions, guards, delays and invoked logic are strings a client may implement with
 * `machine.provide(...)`. Targets are state ids (`#peer.connecting`), invoke ids are explicit, so the
 * rebuilt machine's event types (`xstate.done.actor.0.peer.connecting`, `xstate.after.retryDelay.peer.backoff`)
 * are the original's. Pure: the same machine always gives the same JSON.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** An action or guard by name, with its parameters when they are plain data. */
export type NamedEffect = string | { type: string; params: JsonValue }

export interface TransitionJson {
  target?: string | string[]
  guard?: NamedEffect
  actions?: NamedEffect[]
  reenter?: true
  description?: string
  meta?: JsonValue
}

export interface InvokeJson {
  id: string
  src: string
  systemId?: string
  input?: JsonValue
  onDone?: TransitionJson[]
  onError?: TransitionJson[]
  onSnapshot?: TransitionJson[]
}

export interface StateJson {
  id?: string
  type?: 'parallel' | 'final' | 'history'
  history?: 'shallow' | 'deep'
  initial?: string
  description?: string
  tags?: string[]
  meta?: JsonValue
  entry?: NamedEffect[]
  exit?: NamedEffect[]
  invoke?: InvokeJson[]
  on?: Record<string, TransitionJson[]>
  after?: Record<string, TransitionJson[]>
  always?: TransitionJson[]
  onDone?: TransitionJson[]
  states?: Record<string, StateJson>
}

export interface MachineDefinition extends StateJson {
  id: string
  version?: string
}

/** How inline guards and actions are named: `inline:<state id>:<event>:<index>` (`always` for eventless). */
export const INLINE_PREFIX = 'inline:'

// ---------- plain data ----------

function isJson(value: unknown, depth = 0): value is JsonValue {
  if (depth > 32) return false
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1))
  if (typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  return Object.values(value).every((v) => isJson(v, depth + 1))
}

/** Only keys whose values are defined: the JSON stays as small as the machine. */
function compact<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T
}

const nonEmpty = <T>(list: T[]): T[] | undefined => (list.length > 0 ? list : undefined)

// ---------- actions and guards by name ----------

/** The `raise` on entry and `cancel` on exit that xstate adds to arm and disarm `after` timers. */
export function isTimerBookkeeping(action: unknown): boolean {
  if (typeof action !== 'function') return false
  const a = action as { type?: unknown; id?: unknown; delay?: unknown; sendId?: unknown }
  if (a.type === 'xstate.raise') return a.delay !== undefined && String(a.id).startsWith('xstate.after.')
  if (a.type === 'xstate.cancel') return String(a.sendId).startsWith('xstate.after.')
  return false
}

/**
 * A named reference stays as it is (with its params when they are data); a built-in action
 * (`assign`, `sendTo`, `enqueueActions`, ...) is named by its type, `xstate.assign`; anything else
 * inline gets `fallback`.
 */
function namedEffect(effect: unknown, fallback: string): NamedEffect {
  if (typeof effect === 'string') return effect
  if (typeof effect === 'function') {
    const f = effect as { type?: unknown; guards?: unknown[]; name?: string }
    // and/or/not keep their operands in the name
    if (Array.isArray(f.guards) && (f.name === 'and' || f.name === 'or' || f.name === 'not')) {
      return `${f.name}(${f.guards.map((g, i) => String(namedEffectName(g, `${fallback}.${i}`))).join(', ')})`
    }
    return typeof f.type === 'string' ? f.type : fallback
  }
  if (effect && typeof effect === 'object' && typeof (effect as { type?: unknown }).type === 'string') {
    const { type, params } = effect as { type: string; params?: unknown }
    return params !== undefined && isJson(params) ? { type, params } : type
  }
  return fallback
}

const namedEffectName = (effect: unknown, fallback: string): string => {
  const named = namedEffect(effect, fallback)
  return typeof named === 'string' ? named : named.type
}

const eventLabel = (eventType: string) => (eventType === '' ? 'always' : eventType)

function actionsJson(actions: readonly unknown[], where: string): NamedEffect[] {
  return actions.filter((a) => !isTimerBookkeeping(a)).map((a, i) => namedEffect(a, `${INLINE_PREFIX}${where}:action:${i}`))
}

// ---------- transitions ----------

function transitionJson(t: AnyTransitionDefinition, index: number): TransitionJson {
  const where = `${t.source.id}:${eventLabel(t.eventType)}:${index}`
  const targets = (t.target ?? []).map((n: AnyStateNode) => `#${n.id}`)
  const extra = t as { description?: unknown; meta?: unknown }
  return compact({
    target: targets.length === 0 ? undefined : targets.length === 1 ? targets[0] : targets,
    guard: t.guard === undefined ? undefined : namedEffect(t.guard, `${INLINE_PREFIX}${where}`),
    actions: nonEmpty(actionsJson(t.actions, where)),
    reenter: t.reenter ? (true as const) : undefined,
    description: typeof extra.description === 'string' ? extra.description : undefined,
    meta: extra.meta !== undefined && isJson(extra.meta) ? extra.meta : undefined,
  })
}

const transitionsJson = (list: readonly AnyTransitionDefinition[]) => list.map(transitionJson)

// ---------- states ----------

function stateJson(node: AnyStateNode, isRoot: boolean): StateJson {
  const invokeIds = new Set(node.invoke.map((i) => i.id))
  const after = new Map<string, string>(node.after.map((t) => [t.eventType, String(t.delay)]))
  const on: Record<string, TransitionJson[]> = {}
  const afterJson: Record<string, TransitionJson[]> = {}
  const byInvoke = new Map<string, { onDone?: TransitionJson[]; onError?: TransitionJson[]; onSnapshot?: TransitionJson[] }>()
  let onDone: TransitionJson[] | undefined
  for (const [eventType, list] of node.transitions) {
    const json = transitionsJson(list)
    const delay = after.get(eventType)
    const invokeEvent = /^xstate\.(done\.actor|error\.actor|snapshot)\.(.*)$/.exec(eventType)
    if (delay !== undefined) afterJson[delay] = json
    else if (eventType === `xstate.done.state.${node.id}`) onDone = json
    else if (invokeEvent?.[2] !== undefined && invokeIds.has(invokeEvent[2])) {
      const slot = byInvoke.get(invokeEvent[2]) ?? {}
      const key = invokeEvent[1] === 'done.actor' ? 'onDone' : invokeEvent[1] === 'error.actor' ? 'onError' : 'onSnapshot'
      slot[key] = json
      byInvoke.set(invokeEvent[2], slot)
    } else on[eventType] = json
  }
  const invoke = node.invoke.map((i) =>
    compact({
      id: i.id,
      // inline logic has no name of its own: the invoke id stands for it
      src: typeof i.src === 'string' && !i.src.startsWith('xstate.invoke.') ? i.src : `${INLINE_PREFIX}${i.id}`,
      systemId: typeof i.systemId === 'string' ? i.systemId : undefined,
      input: i.input !== undefined && isJson(i.input) ? i.input : undefined,
      ...byInvoke.get(i.id),
    }),
  )
  const initialTarget = node.initial?.target?.[0] as AnyStateNode | undefined
  const defaultId = isRoot ? undefined : [node.machine.id, ...node.path].join('.')
  const type = node.type === 'parallel' || node.type === 'final' || node.type === 'history' ? node.type : undefined
  const states = Object.fromEntries(Object.entries(node.states).map(([key, child]) => [key, stateJson(child as AnyStateNode, false)]))
  return compact({
    // the root's id is the machine's; a child's is kept only when it is not the default path
    id: isRoot ? node.id : node.id !== defaultId ? node.id : undefined,
    type,
    history: node.type === 'history' ? (node.history as 'shallow' | 'deep') : undefined,
    initial: initialTarget?.key,
    description: node.description,
    tags: nonEmpty([...node.tags]),
    meta: node.meta !== undefined && isJson(node.meta) ? node.meta : undefined,
    entry: nonEmpty(actionsJson(node.entry, `${node.id}:entry`)),
    exit: nonEmpty(actionsJson(node.exit, `${node.id}:exit`)),
    invoke: nonEmpty(invoke),
    on: Object.keys(on).length > 0 ? on : undefined,
    after: Object.keys(afterJson).length > 0 ? afterJson : undefined,
    always: node.always && node.always.length > 0 ? transitionsJson(node.always) : undefined,
    onDone,
    states: Object.keys(states).length > 0 ? states : undefined,
  })
}

/** The JSON config of `machine`: `createMachine(machineDefinition(m))` has m's states and transitions. */
export function machineDefinition(machine: AnyStateMachine): MachineDefinition {
  const root = stateJson(machine.root, true)
  return compact({ ...root, id: machine.id, version: machine.version })
}
