import type { AnyStateMachine, AnyTransitionDefinition } from 'xstate'
import { getStateNodes } from 'xstate/graph'

/** A transition of the definition, `always` included: source, event (or `always`), index among candidates, targets. */
export function transitionKey(t: AnyTransitionDefinition): string {
  const target = t.target?.map((n) => n.id).join(',') ?? '(stays)'
  const always = t.source.always ?? []
  if (always.includes(t)) return `${t.source.id} always #${always.indexOf(t)} -> ${target}`
  const candidates = t.source.transitions.get(t.eventType) ?? []
  return `${t.source.id} on ${t.eventType} #${candidates.indexOf(t)} -> ${target}`
}

/** Every transition of the machine: event-driven, delayed, invoke done/error, and eventless `always` ones. */
export function allTransitions(machine: AnyStateMachine): string[] {
  const keys: string[] = []
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    for (const candidates of node.transitions.values()) keys.push(...candidates.map(transitionKey))
    keys.push(...(node.always ?? []).map(transitionKey))
  }
  return keys.sort()
}
