import type { AnyMachineSnapshot } from 'xstate'
import type { NodeEvent, NodeInput } from '../../src/machines/node/node.types.ts'
import { supervisorMachine } from '../../src/machines/supervisor/supervisor.machine.ts'
import type { SupervisorContext, SupervisorEvent } from '../../src/machines/supervisor/supervisor.types.ts'
import { controlledCallback, nodeInput } from '../support/fakes.ts'
import { describeModel, type Harness, type ModelSpec, type ModelState, startProbed } from '../support/model.ts'

// two nodes, so a shutdown can wait on one while the other has stopped; one restart, so the limit is hit
const input = { restartLimit: 1 }
const ALIASES = ['a', 'b'] as const

const stopped = (alias: string, error?: string): Extract<SupervisorEvent, { type: 'supervisor.nodeStopped' }> => ({
  type: 'supervisor.nodeStopped',
  alias,
  ...(error !== undefined ? { error } : {}),
})

/** One fixture list per event type: a new event type fails to compile here until the model knows it. */
const fixtures = {
  'supervisor.startNode': ALIASES.map((alias) => ({ type: 'supervisor.startNode', node: nodeInput(alias) }) as const),
  'supervisor.stopNode': ALIASES.map((alias) => ({ type: 'supervisor.stopNode', alias }) as const),
  'supervisor.shutdown': [{ type: 'supervisor.shutdown' }],
  // a node reports only while it lives: see `events` below
  'supervisor.nodeStopped': ALIASES.flatMap((alias) => [stopped(alias), stopped(alias, `node ${alias} crashed`)]),
} satisfies { [K in SupervisorEvent['type']]: Extract<SupervisorEvent, { type: K }>[] }

const spec: ModelSpec = {
  machine: supervisorMachine,
  input,
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as SupervisorContext
    const nodes = Object.entries(c.nodes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([alias, n]) => [alias, n.status, n.restarts, n.error ?? null])
    return JSON.stringify({ value: snapshot.value, nodes })
  },
  events: ({ live }: ModelState) => [
    ...fixtures['supervisor.startNode'],
    ...fixtures['supervisor.stopNode'],
    ...fixtures['supervisor.shutdown'],
    ...fixtures['supervisor.nodeStopped'].filter((e) => live.includes(`node:${e.alias}`)),
  ],
}

/** The supervisor with fake nodes: each one reports stopped (or failed) when the test says so. */
function harness(): Harness {
  const nodes = controlledCallback<NodeInput, NodeEvent, SupervisorEvent>('node')
  const { actor, probe, emitted } = startProbed(supervisorMachine.provide({ actors: { node: nodes.logic as never } }), input)
  return {
    actor,
    probe,
    emitted,
    perform: (event) => {
      const e = event as SupervisorEvent
      if (e.type === 'supervisor.nodeStopped') return nodes.latest((n) => n.input.alias === e.alias).sendBack(e)
      return actor.send(e)
    },
  }
}

describeModel('supervisor', spec, harness)
