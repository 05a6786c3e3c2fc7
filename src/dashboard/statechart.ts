/**
 * A statechart drawn from a machine definition as `machines.list` gives it: the top-level states in
 * layers (breadth-first from the initial state along the transitions), each state a box listing its
 * child states, the transitions between top-level states as arrows labelled with their events. The
 * active state (and active child) is highlighted from the actor's `value`.
 *
 * Plain layered SVG, no layout library: the machines here have 3 to 12 top-level states, for which
 * a breadth-first layering reads well, costs no bytes, and lays out the same on every push.
 */

export interface StateNode {
  name: string
  children: string[]
  final: boolean
}

export interface Edge {
  from: string
  to: string
  events: string[]
}

export interface Layout {
  width: number
  height: number
  nodes: (StateNode & { x: number; y: number; w: number; h: number })[]
  edges: (Edge & { points: [number, number][]; label: string; back: boolean })[]
}

type Config = Record<string, unknown>

const obj = (v: unknown): Config => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Config) : {})

/** Every target string of one transition config (string, {target}, or a list of them). */
function targetsOf(t: unknown): string[] {
  if (typeof t === 'string') return [t]
  if (Array.isArray(t)) return t.flatMap(targetsOf)
  const target = obj(t).target
  if (typeof target === 'string') return [target]
  if (Array.isArray(target)) return target.filter((x): x is string => typeof x === 'string')
  return []
}

/** The transitions of one state config as [event label, target] pairs. */
function transitionsOf(state: Config): [string, string][] {
  const out: [string, string][] = []
  for (const [event, t] of Object.entries(obj(state.on))) for (const target of targetsOf(t)) out.push([event, target])
  for (const target of targetsOf(state.always)) out.push(['always', target])
  for (const [delay, t] of Object.entries(obj(state.after))) for (const target of targetsOf(t)) out.push([`after ${delay}`, target])
  const invokes = Array.isArray(state.invoke) ? state.invoke : state.invoke ? [state.invoke] : []
  for (const inv of invokes) {
    const src = typeof obj(inv).src === 'string' ? String(obj(inv).src) : 'invoke'
    for (const target of targetsOf(obj(inv).onDone)) out.push([`${src} done`, target])
    for (const target of targetsOf(obj(inv).onError)) out.push([`${src} error`, target])
  }
  for (const target of targetsOf(state.onDone)) out.push(['done', target])
  return out
}

/** The top-level state a target names, seen from inside top-level state `from` at nesting `depth`. */
function topLevelTarget(machineId: string, target: string, from: string, depth: number): string | undefined {
  if (target.startsWith('#')) {
    const path = target.slice(1).split('.')
    if (path[0] === machineId) return path[1]
    return undefined
  }
  if (target.startsWith('.')) return from
  // a bare name is a sibling: a top-level state only when said by a top-level state
  return depth === 0 ? target.split('.')[0] : from
}

export function graphOf(definition: { id: string; initial?: unknown; states?: Record<string, unknown> }): {
  nodes: StateNode[]
  edges: Edge[]
  initial: string | undefined
} {
  const states = obj(definition.states)
  const names = Object.keys(states)
  const edges = new Map<string, Edge>()
  const walk = (top: string, state: Config, depth: number) => {
    for (const [event, target] of transitionsOf(state)) {
      const to = topLevelTarget(definition.id, target, top, depth)
      if (to === undefined || !names.includes(to) || to === top) continue
      const key = `${top}\u0000${to}`
      const e = edges.get(key) ?? { from: top, to, events: [] }
      if (!e.events.includes(event)) e.events.push(event)
      edges.set(key, e)
    }
    for (const child of Object.values(obj(state.states))) walk(top, obj(child), depth + 1)
  }
  for (const name of names) walk(name, obj(states[name]), 0)
  const nodes = names.map((name) => {
    const s = obj(states[name])
    return { name, children: Object.keys(obj(s.states)), final: s.type === 'final' }
  })
  const initial = typeof definition.initial === 'string' ? definition.initial : names[0]
  return { nodes, edges: [...edges.values()], initial }
}

const NODE_W = 150
const ROW = 16
const GAP_X = 30
const GAP_Y = 56

export function layout(definition: { id: string; initial?: unknown; states?: Record<string, unknown> }): Layout {
  const { nodes, edges, initial } = graphOf(definition)
  // breadth-first layers from the initial state; states nothing reaches go below
  const layerOf = new Map<string, number>()
  if (initial !== undefined) layerOf.set(initial, 0)
  const queue = initial !== undefined ? [initial] : []
  while (queue.length > 0) {
    const at = queue.shift() as string
    for (const e of edges)
      if (e.from === at && !layerOf.has(e.to)) {
        layerOf.set(e.to, (layerOf.get(at) ?? 0) + 1)
        queue.push(e.to)
      }
  }
  const deepest = Math.max(-1, ...layerOf.values())
  for (const n of nodes) if (!layerOf.has(n.name)) layerOf.set(n.name, deepest + 1)
  const layers: StateNode[][] = []
  for (const n of nodes) {
    const i = layerOf.get(n.name) ?? 0
    layers[i] = [...(layers[i] ?? []), n]
  }
  const widest = Math.max(1, ...layers.map((l) => l?.length ?? 0))
  const width = widest * (NODE_W + GAP_X) + GAP_X
  const placed: Layout['nodes'] = []
  let y = 20
  for (const layer of layers) {
    if (!layer) continue
    const h = Math.max(...layer.map((n) => 30 + n.children.length * ROW))
    const rowWidth = layer.length * (NODE_W + GAP_X) - GAP_X
    let x = (width - rowWidth) / 2
    for (const n of layer) {
      placed.push({ ...n, x, y, w: NODE_W, h: 30 + n.children.length * ROW })
      x += NODE_W + GAP_X
    }
    y += h + GAP_Y
  }
  const at = new Map(placed.map((n) => [n.name, n]))
  const laid: Layout['edges'] = []
  for (const e of edges) {
    const a = at.get(e.from)
    const b = at.get(e.to)
    if (!a || !b) continue
    const back = b.y <= a.y
    const label = e.events.length > 2 ? `${e.events.slice(0, 2).join(', ')} +${e.events.length - 2}` : e.events.join(', ')
    if (!back) {
      laid.push({
        ...e,
        label,
        back,
        points: [
          [a.x + a.w / 2, a.y + a.h],
          [b.x + b.w / 2, b.y],
        ],
      })
    } else {
      // upwards or sideways: out of the right side, round, into the right side
      const out = Math.max(a.x + a.w, b.x + b.w) + 14
      laid.push({
        ...e,
        label,
        back,
        points: [
          [a.x + a.w, a.y + a.h / 2 + 4],
          [out, a.y + a.h / 2 + 4],
          [out, b.y + b.h / 2 - 4],
          [b.x + b.w, b.y + b.h / 2 - 4],
        ],
      })
    }
  }
  return { width: width + 40, height: y, nodes: placed, edges: laid }
}

/** The active path of a state value: 'a' -> ['a'], {a: 'b'} -> ['a', 'b'], {a: {b: 'c'}} -> ['a', 'b', 'c']. */
export function activePath(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (value && typeof value === 'object') {
    const [key, inner] = Object.entries(value as Record<string, unknown>)[0] ?? []
    return key === undefined ? [] : [key, ...activePath(inner)]
  }
  return []
}
