import { describe, expect, it } from 'vitest'
import { type AnyActorRef, assign, createActor, setup } from 'xstate'
import { supervisorMachine, supervisorPublicContext } from '../../src/machines/supervisor/supervisor.machine.ts'
import type { NodeEvent, NodeInput } from '../../src/machines/node/node.types.ts'
import { nodeInput } from '../support/fakes.ts'

// Edges of the supervisor that its walks do not pin down (found by npm run mutate): shutdown waits for
// every node, a stop for a node it does not know is harmless, and what clients see of the nodes.

/** A stand-in node that only remembers what it was told; the test reports its stop for it. */
const node = setup({
  types: { context: {} as { got: string[] }, input: {} as NodeInput, events: {} as NodeEvent },
}).createMachine({
  context: { got: [] },
  on: { '*': { actions: assign({ got: ({ context, event }) => [...context.got, event.type] }) } },
})

function supervisor(restartLimit = 1) {
  const actor = createActor(supervisorMachine.provide({ actors: { node: node as never } }), { input: { restartLimit } })
  actor.start()
  const start = (alias: string) => actor.send({ type: 'supervisor.startNode', node: nodeInput(alias) })
  const stopped = (alias: string, error?: string) =>
    actor.send({ type: 'supervisor.nodeStopped', alias, ...(error ? { error, started: true } : {}) })
  const told = (alias: string) =>
    ((actor.system.get(`node:${alias}`) as AnyActorRef | undefined)?.getSnapshot().context as { got: string[] } | undefined)?.got
  return { actor, start, stopped, told, value: () => actor.getSnapshot().value }
}

describe('supervisor edges', () => {
  it('shutdown tells every running node to stop and is stopped only once the last one has', () => {
    const s = supervisor()
    s.start('a')
    s.start('b')
    s.actor.send({ type: 'supervisor.shutdown' })
    expect(s.told('a')).toEqual(['node.stop'])
    expect(s.told('b')).toEqual(['node.stop'])
    s.stopped('a')
    expect(s.value()).toBe('shuttingDown')
    s.stopped('b')
    expect(s.value()).toBe('stopped')
    expect(s.actor.getSnapshot().context.nodes).toEqual({})
  })

  it('a stop for a node it does not run is ignored', () => {
    const s = supervisor()
    s.actor.send({ type: 'supervisor.stopNode', alias: 'nobody' })
    expect(s.actor.getSnapshot().status).toBe('active')
    expect(s.value()).toBe('running')
  })

  it('a report for a node it never had changes nothing', () => {
    const s = supervisor()
    s.start('a')
    s.actor.send({ type: 'supervisor.nodeStopped', alias: 'nobody', error: 'could not start' })
    s.actor.send({ type: 'supervisor.nodeStopped', alias: 'nobody', error: 'crashed', started: true })
    expect(s.actor.getSnapshot().status).toBe('active')
    expect(Object.keys(s.actor.getSnapshot().context.nodes)).toEqual(['a'])
    expect(s.actor.system.get('node:nobody')).toBeUndefined()
  })

  it('only a running node is restarted: a crash reported for one that failed for good starts nothing', () => {
    const s = supervisor(1)
    s.start('a')
    s.actor.send({ type: 'supervisor.nodeStopped', alias: 'a', error: 'could not start' })
    expect(s.actor.getSnapshot().context.nodes.a).toMatchObject({ status: 'failed', restarts: 0 })
    s.actor.send({ type: 'supervisor.nodeStopped', alias: 'a', error: 'crashed', started: true })
    expect(s.actor.getSnapshot().context.nodes.a).toMatchObject({ status: 'failed', restarts: 0, error: 'crashed' })
    expect(s.actor.system.get('node:a')).toBeUndefined()
  })

  it('shows clients each node with its status, restarts and error', () => {
    const s = supervisor(1)
    s.start('a')
    s.start('b')
    s.stopped('a', 'boom') // restarted once
    s.stopped('a', 'boom again') // over the limit: failed for good
    expect(supervisorPublicContext(s.actor.getSnapshot().context)).toEqual({
      restartLimit: 1,
      nodes: {
        a: { status: 'failed', restarts: 1, error: 'boom again' },
        b: { status: 'running', restarts: 0, error: null },
      },
    })
  })
})
