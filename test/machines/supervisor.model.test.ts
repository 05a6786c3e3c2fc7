import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { supervisorMachine } from '../../src/machines/supervisor/supervisor.machine.ts'
import type { SupervisorContext, SupervisorEvent } from '../../src/machines/supervisor/supervisor.types.ts'
import { nodeInput } from '../support/fakes.ts'
import { describeWorldModel, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { supervisorAlways, supervisorInvariants, type SupervisorWorld, supervisorWorld } from '../support/supervisor-world.ts'

// two nodes, so a shutdown can wait on one while the other has stopped; one restart, so the limit is hit
const input = { restartLimit: 1 }
const ALIASES = ['a', 'b'] as const

type Report = Extract<SupervisorEvent, { type: 'supervisor.nodeStopped' }>
/** How a node ends: cleanly, failing before it ran, or crashing after it ran. */
const reports = (alias: string): Report[] => [
  { type: 'supervisor.nodeStopped', alias },
  { type: 'supervisor.nodeStopped', alias, error: `node ${alias} could not start` },
  { type: 'supervisor.nodeStopped', alias, error: `node ${alias} crashed`, started: true },
]

const spec: WorldModelSpec<SupervisorWorld> = {
  machine: supervisorMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as SupervisorContext
    const nodes = Object.entries(c.nodes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([alias, n]) => [alias, n.status, n.restarts])
    return JSON.stringify({ value: snapshot.value, nodes })
  },
  events: ({ live, snapshot }: ModelState): EventObject[] => [
    ...ALIASES.map((alias) => ({ type: 'supervisor.startNode', node: nodeInput(alias) })),
    ...ALIASES.map((alias) => ({ type: 'supervisor.stopNode', alias })),
    { type: 'supervisor.shutdown' },
    // a node reports once, while it lives (a node that reported has ended, even if its actor is not stopped yet)
    ...ALIASES.filter(
      (alias) => live.includes(`node:${alias}`) && (snapshot.context as SupervisorContext).nodes[alias]?.status === 'running',
    ).flatMap(reports),
  ],
  bind: () => supervisorWorld(input.restartLimit),
  perform: (world, event, actor) => {
    const e = event as SupervisorEvent
    switch (e.type) {
      case 'supervisor.startNode':
        world.startNode(e.node)
        return actor.send(e)
      case 'supervisor.stopNode':
        world.stopNode(e.alias)
        return actor.send(e)
      case 'supervisor.shutdown':
        world.shutdown()
        return actor.send(e)
      case 'supervisor.nodeStopped':
        return world.report(e)
    }
  },
  invariants: supervisorInvariants,
  always: supervisorAlways,
}

describeWorldModel('supervisor', spec)
