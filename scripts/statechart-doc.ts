import type { TSchema } from '@sinclair/typebox'
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate'
import type { MachineKind } from '../src/machines/catalog.ts'
import { isTimerBookkeeping } from '../src/machines/definition.ts'

/**
 * Statechart documents generated from the machine definitions: a JSON projection and a Markdown page
 * with a Mermaid `stateDiagram-v2`, for every kind in the catalog. Pure: the same machines always give
 * the same text, so a test can tell when the committed documents are stale.
 */

export interface TransitionDoc {
  /** The event type as the machine sees it (`xstate.after.*`, `xstate.done.actor.*` included). */
  event: string
  /** What a reader sees: `dht.enqueue`, `after(bootstrapTimeout)`, `done(bootstrap)`, `always`. */
  label: string
  guard?: string
  /** Target state ids; empty when the transition stays in its state (actions only). */
  targets: string[]
  actions: string[]
  reenter?: true
}

export interface InvokeDoc {
  id: string
  src: string
}

export interface StateDoc {
  id: string
  /** Path from the root, dot-joined; '' for the root. */
  path: string
  type: AnyStateNode['type']
  description?: string
  initial?: string
  tags: string[]
  entry: string[]
  exit: string[]
  invoke: InvokeDoc[]
  transitions: TransitionDoc[]
  states: Record<string, StateDoc>
}

export interface StatechartDoc {
  kind: string
  description: string
  clientEvents: string[]
  /** The TypeBox schema that validates those events, as JSON Schema. */
  clientEventSchema: unknown
  machine: StateDoc
}

export interface ClientEventDoc {
  type: string
  fields: { name: string; optional: boolean; schema: string }[]
}

// ---------- names of guards, actions and events ----------

type Named = { type?: unknown; name?: string; guards?: unknown[] }

function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard
  if (typeof guard === 'function') {
    const g = guard as Named
    // and/or/not keep their operands; any other function is an inline guard
    if (Array.isArray(g.guards) && (g.name === 'and' || g.name === 'or' || g.name === 'not')) {
      return `${g.name}(${g.guards.map(guardName).join(', ')})`
    }
    return 'inline'
  }
  if (guard && typeof guard === 'object' && typeof (guard as Named).type === 'string') return (guard as Named).type as string
  return 'inline'
}

function actionName(action: unknown): string {
  if (typeof action === 'string') return action
  const type = (action as Named | undefined)?.type
  if (typeof type === 'string') return type.replace(/^xstate\./, '')
  return 'inline'
}

const actionNames = (actions: readonly unknown[]) => actions.filter((a) => !isTimerBookkeeping(a)).map(actionName)

function delayName(delay: unknown): string {
  if (typeof delay === 'number') return `${delay}ms`
  if (typeof delay === 'string') return delay
  return 'inline'
}

function eventLabel(machine: AnyStateMachine, t: AnyTransitionDefinition): string {
  const type = t.eventType
  if (type === '') return 'always'
  const delay = (t as { delay?: unknown }).delay
  if (type.startsWith('xstate.after.')) return `after(${delayName(delay)})`
  for (const [prefix, word] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
  ] as const) {
    if (!type.startsWith(prefix)) continue
    const id = type.slice(prefix.length)
    const src = allNodes(machine.root)
      .flatMap((n) => n.invoke)
      .find((i) => i.id === id)?.src
    return `${word}(${typeof src === 'string' ? src : id})`
  }
  if (type.startsWith('xstate.done.state.')) {
    const node = allNodes(machine.root).find((n) => n.id === type.slice('xstate.done.state.'.length))
    return `done(${node ? pathOf(node) : type.slice('xstate.done.state.'.length)})`
  }
  return type
}

// ---------- the JSON projection ----------

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child as AnyStateNode))]
}

const pathOf = (node: AnyStateNode) => node.path.join('.')

function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])]
}

function transitionDoc(machine: AnyStateMachine, t: AnyTransitionDefinition): TransitionDoc {
  return {
    event: t.eventType,
    label: eventLabel(machine, t),
    ...(t.guard !== undefined ? { guard: guardName(t.guard) } : {}),
    targets: (t.target ?? []).map((n) => n.id),
    actions: actionNames(t.actions),
    ...(t.reenter ? { reenter: true as const } : {}),
  }
}

function stateDoc(machine: AnyStateMachine, node: AnyStateNode): StateDoc {
  const initial = node.initial?.target?.[0]
  return {
    id: node.id,
    path: pathOf(node),
    type: node.type,
    ...(node.description !== undefined ? { description: node.description } : {}),
    ...(initial ? { initial: initial.key } : {}),
    tags: [...node.tags].sort(),
    entry: actionNames(node.entry),
    exit: actionNames(node.exit),
    invoke: node.invoke.map((i) => ({ id: i.id, src: typeof i.src === 'string' ? i.src : 'inline' })),
    transitions: transitionsOf(node).map((t) => transitionDoc(machine, t)),
    states: Object.fromEntries(Object.entries(node.states).map(([key, child]) => [key, stateDoc(machine, child as AnyStateNode)])),
  }
}

/** The object variants of a TypeBox union of events (a single object is a union of one; `Never` of none). */
function eventSchemas(schema: TSchema): TSchema[] {
  if (Array.isArray(schema.anyOf)) return schema.anyOf as TSchema[]
  if (schema.type === 'object') return [schema]
  return []
}

function describeSchema(schema: TSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).map(describeSchema).join(' | ')
  if (schema.type === 'array') return `${describeSchema(schema.items as TSchema)}[]`
  const range = (min: unknown, max: unknown, unit = '') =>
    min === undefined && max === undefined ? '' : ` (${min ?? ''}..${max ?? ''}${unit})`
  if (schema.type === 'string') return `string${range(schema.minLength, schema.maxLength, ' chars')}`
  if (schema.type === 'integer' || schema.type === 'number') return `${schema.type}${range(schema.minimum, schema.maximum)}`
  return typeof schema.type === 'string' ? schema.type : 'unknown'
}

export function clientEventDocs(schema: TSchema): ClientEventDoc[] {
  return eventSchemas(schema).map((variant) => {
    const properties = (variant.properties ?? {}) as Record<string, TSchema>
    const required = new Set<string>((variant.required as string[] | undefined) ?? [])
    return {
      type: String(properties.type?.const ?? '(any)'),
      fields: Object.entries(properties)
        .filter(([name]) => name !== 'type')
        .map(([name, field]) => ({ name, optional: !required.has(name), schema: describeSchema(field) })),
    }
  })
}

export function statechartJson(kind: MachineKind): StatechartDoc {
  return {
    kind: kind.kind,
    description: kind.description,
    clientEvents: clientEventDocs(kind.clientEvents).map((e) => e.type),
    clientEventSchema: JSON.parse(JSON.stringify(kind.clientEvents)),
    machine: stateDoc(kind.machine, kind.machine.root),
  }
}

// ---------- Mermaid ----------

const MERMAID_WORDS = new Set(['state', 'end', 'direction', 'note', 'as', 'class', 'classDef', 'click', 'style', 'TB', 'BT', 'LR', 'RL'])

/** A Mermaid id for a state: its path joined by `_`, so nested states of the same key do not clash. */
function mermaidId(node: AnyStateNode): string {
  const id = node.path.join('_').replace(/[^A-Za-z0-9_]/g, '_')
  return MERMAID_WORDS.has(id) ? `state_${id}` : id
}

function edgeLabel(machine: AnyStateMachine, t: AnyTransitionDefinition): string {
  const guard = t.guard !== undefined ? ` [${guardName(t.guard)}]` : ''
  // `:` ends a Mermaid label and `;` a statement: keep both out of it
  return `${eventLabel(machine, t)}${guard}`.replace(/[:;]/g, ' ')
}

interface Edge {
  source: AnyStateNode
  target: AnyStateNode
  label: string
}

/** The strict ancestors of a state, root first. */
function ancestors(node: AnyStateNode): AnyStateNode[] {
  const chain: AnyStateNode[] = []
  for (let n = node.parent; n; n = n.parent) chain.unshift(n)
  return chain
}

/**
 * Edges leave the state that defines them. The root is no box in the diagram, so a transition it
 * defines is drawn from each top-level state that would take it: not final, not handling the event
 * itself. Transitions without a target only run actions; the transition table lists them.
 */
function edgesOf(machine: AnyStateMachine): Edge[] {
  const root = machine.root
  const topLevel = Object.values(root.states) as AnyStateNode[]
  return allNodes(root).flatMap((node) =>
    transitionsOf(node).flatMap((t) => {
      const sources = node === root ? topLevel.filter((s) => s.type !== 'final' && !s.transitions.has(t.eventType)) : [node]
      const label = edgeLabel(machine, t)
      return sources.flatMap((source) => (t.target ?? []).map((target) => ({ source, target, label })))
    }),
  )
}

/** The innermost state that holds both ends: Mermaid wants an edge inside the block of its states. */
function container(edge: Edge): AnyStateNode {
  const from = ancestors(edge.source)
  const to = ancestors(edge.target)
  let shared = from[0] as AnyStateNode
  for (let i = 0; i < Math.min(from.length, to.length) && from[i] === to[i]; i++) shared = from[i] as AnyStateNode
  return shared
}

function block(node: AnyStateNode, edges: Edge[], indent: string, out: string[]): void {
  const children = Object.values(node.states) as AnyStateNode[]
  const initial = node.initial?.target?.[0]
  children.forEach((child, i) => {
    if (node.type === 'parallel' && i > 0) out.push(`${indent}--`)
    const id = mermaidId(child)
    if (id !== child.key) out.push(`${indent}state "${child.key}" as ${id}`)
    if (Object.keys(child.states).length === 0) {
      if (id === child.key) out.push(`${indent}${id}`)
      return
    }
    out.push(`${indent}state ${id} {`)
    block(child, edges, `${indent}  `, out)
    out.push(`${indent}}`)
  })
  if (node.type !== 'parallel' && initial) out.push(`${indent}[*] --> ${mermaidId(initial)}`)
  for (const child of children) if (child.type === 'final') out.push(`${indent}${mermaidId(child)} --> [*]`)
  for (const e of edges) {
    if (container(e) === node) out.push(`${indent}${mermaidId(e.source)} --> ${mermaidId(e.target)} : ${e.label}`)
  }
}

export function mermaidOf(machine: AnyStateMachine): string {
  const out = ['stateDiagram-v2']
  block(machine.root, edgesOf(machine), '  ', out)
  return out.join('\n')
}

// ---------- Markdown ----------

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
const code = (text: string) => `\`${text}\``
const list = (items: string[]) => items.map(code).join(', ')

function stateRows(node: AnyStateNode, rows: string[]): void {
  for (const child of Object.values(node.states) as AnyStateNode[]) {
    const initial = node.initial?.target?.[0] === child
    const kind = [initial ? 'initial' : '', child.type === 'atomic' ? '' : child.type].filter(Boolean).join(', ')
    const invokes = child.invoke.map((i) => (typeof i.src === 'string' ? i.src : 'inline'))
    rows.push(
      `| ${code(pathOf(child))} | ${kind} | ${list([...child.tags].sort())} | ${list(invokes)} | ${cell(child.description ?? '')} |`,
    )
    stateRows(child, rows)
  }
}

function transitionRows(machine: AnyStateMachine): string[] {
  return allNodes(machine.root).flatMap((node) =>
    transitionsOf(node).map((t) => {
      const from = node === machine.root ? '(any state)' : code(pathOf(node))
      const to = (t.target ?? []).map((n) => code(pathOf(n))).join(', ') || '(stays)'
      const guard = t.guard !== undefined ? code(guardName(t.guard)) : ''
      return `| ${from} | ${code(eventLabel(machine, t))} | ${guard} | ${to} | ${list(actionNames(t.actions))} |`
    }),
  )
}

function clientEventLines(schema: TSchema): string[] {
  const events = clientEventDocs(schema)
  if (events.length === 0) return ['This actor accepts no events from clients.']
  return [
    'Events a client may send with `actors.send`; anything else is refused:',
    '',
    ...events.map((e) => {
      const fields = e.fields.map((f) => `${code(`${f.name}${f.optional ? '?' : ''}`)}: ${f.schema}`).join(', ')
      return `- ${code(e.type)}${fields ? ` with ${fields}` : ''}`
    }),
  ]
}

export function statechartMarkdown(kind: MachineKind): string {
  const { machine } = kind
  const states: string[] = []
  stateRows(machine.root, states)
  return [
    '<!-- Generated by `npm run statecharts` from src/machines/catalog.ts: do not edit by hand. -->',
    '',
    `# ${kind.kind}`,
    '',
    kind.description,
    '',
    '## Client events',
    '',
    ...clientEventLines(kind.clientEvents),
    '',
    '## Statechart',
    '',
    '```mermaid',
    mermaidOf(machine),
    '```',
    '',
    '## States',
    '',
    '| State | Kind | Tags | Invokes | Description |',
    '| --- | --- | --- | --- | --- |',
    ...states,
    '',
    '## Transitions',
    '',
    '`(stays)`: the transition runs its actions and leaves the state as it is.',
    '',
    '| From | Event | Guard | To | Actions |',
    '| --- | --- | --- | --- | --- |',
    ...transitionRows(machine),
    '',
  ].join('\n')
}

export function statechartIndex(kinds: readonly MachineKind[]): string {
  const firstSentence = (text: string) => text.match(/^.*?\.(?=\s|$)/)?.[0] ?? text
  return [
    '<!-- Generated by `npm run statecharts` from src/machines/catalog.ts: do not edit by hand. -->',
    '',
    '# Statecharts',
    '',
    'Every kind of long-lived actor, in the order the tree nests them, generated from its machine definition.',
    'Each kind has a page with its Mermaid statechart and a JSON projection of the definition.',
    '',
    '| Kind | What it is | Files |',
    '| --- | --- | --- |',
    ...kinds.map(
      (k) => `| [${k.kind}](${k.kind}.md) | ${cell(firstSentence(k.description))} | [md](${k.kind}.md), [json](${k.kind}.json) |`,
    ),
    '',
  ].join('\n')
}

/** Every generated file, by name inside docs/statecharts, in a stable order. */
export function statechartFiles(kinds: readonly MachineKind[]): Map<string, string> {
  const files = new Map<string, string>()
  for (const kind of kinds) {
    files.set(`${kind.kind}.json`, `${JSON.stringify(statechartJson(kind), null, 2)}\n`)
    files.set(`${kind.kind}.md`, statechartMarkdown(kind))
  }
  files.set('README.md', statechartIndex(kinds))
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
