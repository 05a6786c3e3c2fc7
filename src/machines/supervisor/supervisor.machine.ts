import { assign, enqueueActions, sendParent, setup } from 'xstate'
import { childIds, systemIds } from '../actor-ids.ts'
import { nodeMachine } from '../node/node.machine.ts'
import type { NodeContext, NodeEvent } from '../node/node.types.ts'
import type { SupervisorContext, SupervisorEvent, SupervisorInput } from './supervisor.types.ts'

/** A node's id under the supervisor is its systemId. */
const nodeId = childIds.node

/** What a node binds to its `reportStopped` slot to tell this supervisor it has stopped or failed. */
export const reportStoppedToSupervisor = sendParent<
  NodeContext,
  NodeEvent,
  { alias: string; error?: string; started?: boolean },
  SupervisorEvent,
  NodeEvent
>((_, params) => ({
  type: 'supervisor.nodeStopped',
  alias: params.alias,
  ...(params.error !== undefined ? { error: params.error } : {}),
  ...(params.started ? { started: true } : {}),
}))

/**
 * The root of the actor tree: starts and stops local nodes, restarts a crashed one up to
 * `restartLimit` times, and on shutdown waits until every node has stopped.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: { node: nodeMachine },
  guards: {
    allStopped: ({ context, event }) =>
      Object.values(context.nodes).every(
        (n) => n.status !== 'running' || (event.type === 'supervisor.nodeStopped' && n.input.alias === event.alias),
      ),
    noNodes: ({ context }) => Object.values(context.nodes).every((n) => n.status !== 'running'),
  },
  actions: {
    startNode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'supervisor.startNode') return
      const alias = event.node.alias
      if (context.nodes[alias]?.status === 'running') return
      enqueue.stopChild(nodeId(alias))
      enqueue.spawnChild('node', { id: nodeId(alias), systemId: systemIds.node(alias), input: event.node })
      enqueue.assign({ nodes: { ...context.nodes, [alias]: { input: event.node, restarts: 0, status: 'running' } } })
    }),
    stopNode: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'supervisor.stopNode') return
      if (context.nodes[event.alias]?.status !== 'running') return
      enqueue.sendTo(nodeId(event.alias), { type: 'node.stop' })
    }),
    /** A node reached stopped or failed: release it, and restart it if it crashed and may be restarted. */
    nodeStopped: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'supervisor.nodeStopped') return
      const record = context.nodes[event.alias]
      if (!record) return
      enqueue.stopChild(nodeId(event.alias))
      // a node that never ran would fail the same way again: only a crash of a running node is restarted
      const restart =
        event.error !== undefined && event.started === true && record.status === 'running' && record.restarts < context.restartLimit
      if (restart) {
        enqueue.spawnChild('node', { id: nodeId(event.alias), systemId: systemIds.node(event.alias), input: record.input })
        enqueue.assign({
          nodes: { ...context.nodes, [event.alias]: { ...record, restarts: record.restarts + 1, error: event.error } },
        })
        return
      }
      const { [event.alias]: _gone, ...rest } = context.nodes
      // a node that failed for good stays listed so clients can see why
      enqueue.assign({
        nodes: event.error === undefined ? rest : { ...rest, [event.alias]: { ...record, status: 'failed', error: event.error } },
      })
    }),
    stopAll: enqueueActions(({ context, enqueue }) => {
      for (const n of Object.values(context.nodes)) {
        if (n.status === 'running') enqueue.sendTo(nodeId(n.input.alias), { type: 'node.stop' })
      }
    }),
    markStopped: assign({
      nodes: ({ context, event }) => {
        if (event.type !== 'supervisor.nodeStopped') return context.nodes
        const { [event.alias]: _gone, ...rest } = context.nodes
        return rest
      },
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, nodes: {} }),
  initial: 'running',
  states: {
    running: {
      description: 'Starts nodes on request and restarts a crashed one.',
      on: {
        'supervisor.startNode': { actions: 'startNode' },
        'supervisor.stopNode': { actions: 'stopNode' },
        'supervisor.nodeStopped': { actions: 'nodeStopped' },
        'supervisor.shutdown': [{ guard: 'noNodes', target: 'stopped' }, { target: 'shuttingDown' }],
      },
    },
    shuttingDown: {
      description: 'Every node was told to stop; waits until the last one has.',
      entry: 'stopAll',
      on: {
        'supervisor.nodeStopped': [{ guard: 'allStopped', target: 'stopped', actions: 'markStopped' }, { actions: 'markStopped' }],
      },
    },
    // not final: the nodes' own done events still arrive after their last report
    stopped: { description: 'Every node has stopped.' },
  },
})

export function supervisorPublicContext(context: SupervisorContext) {
  return {
    restartLimit: context.restartLimit,
    nodes: Object.fromEntries(
      Object.entries(context.nodes).map(([alias, n]) => [alias, { status: n.status, restarts: n.restarts, error: n.error ?? null }]),
    ),
  }
}
