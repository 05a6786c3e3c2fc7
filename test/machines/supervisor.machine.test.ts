import { describe, expect, it, vi } from 'vitest'
import { type AnyActorRef, createActor, SimulatedClock, waitFor } from 'xstate'
import { reportStoppedToSupervisor, supervisorMachine } from '../../src/machines/supervisor/supervisor.machine.ts'
import { fakeNode, nodeInput } from '../support/fakes.ts'

const started = (alias: string) => ({ peerId: `12D3KooW${alias}`, addrs: ['/ip4/127.0.0.1/tcp/4001'] })

/** A supervisor whose nodes are real node machines with fake libp2p side effects. */
function startSupervisor(restartLimit = 2) {
  const nodes = fakeNode({ reportStopped: reportStoppedToSupervisor })
  const actor = createActor(supervisorMachine.provide({ actors: { node: nodes.machine } }), {
    input: { restartLimit },
    clock: new SimulatedClock(),
  })
  actor.start()
  const startNode = (alias: string) => actor.send({ type: 'supervisor.startNode', node: nodeInput(alias) })
  const node = (alias: string) => actor.system.get(`node:${alias}`) as AnyActorRef | undefined
  const record = (alias: string) => actor.getSnapshot().context.nodes[alias]
  /** Settle the next pending build, once the node asked for one. */
  const build = async (outcome: 'ok' | Error) => {
    const call = await vi.waitFor(() => nodes.createNode.pending(), { timeout: 10_000 })
    if (outcome === 'ok') call.resolve(started(call.input.alias))
    else call.reject(outcome)
    return call.input.alias
  }
  const nodeRunning = (alias: string) => vi.waitFor(() => expect(node(alias)?.getSnapshot().value).toBe('running'), { timeout: 10_000 })
  return { ...nodes, actor, startNode, node, record, build, nodeRunning }
}

describe('supervisor machine', () => {
  it('spawns node:<alias> on startNode and tracks it as running', async () => {
    const sup = startSupervisor()
    sup.startNode('a')
    expect(sup.node('a')).toBeDefined()
    expect(sup.node('a')?.getSnapshot().value).toBe('starting')
    await sup.build('ok')
    await sup.nodeRunning('a')
    expect(sup.record('a')).toMatchObject({ status: 'running', restarts: 0 })
    expect(sup.actor.system.get('dht:a')).toBeDefined()
  })

  it('ignores startNode for a node that is already running', async () => {
    const sup = startSupervisor()
    sup.startNode('a')
    const first = sup.node('a')
    sup.startNode('a')
    expect(sup.node('a')).toBe(first)
    expect(sup.createNode.calls).toHaveLength(1)
  })

  it('does not restart a node that could not start: it would fail the same way; it stays failed with the error', async () => {
    const sup = startSupervisor(2)
    sup.startNode('a')
    await sup.build(new Error('port busy'))
    await waitFor(sup.actor, (s) => s.context.nodes.a?.status === 'failed', { timeout: 10_000 })
    expect(sup.record('a')).toMatchObject({ status: 'failed', restarts: 0, error: 'port busy' })
    expect(sup.createNode.calls).toHaveLength(1)
    expect(sup.node('a')).toBeUndefined()
    expect(sup.actor.getSnapshot().value).toBe('running')
  })

  it('restarts a node that keeps crashing while running up to restartLimit times, then leaves it failed', async () => {
    const sup = startSupervisor(2)
    sup.startNode('a')
    for (let i = 0; i < 3; i++) {
      await sup.build('ok')
      await sup.nodeRunning('a')
      sup.watchNode.latest().sendBack({ type: 'node.crashed', error: `crash #${i}` })
      sup.stopNode.resolve()
    }
    await waitFor(sup.actor, (s) => s.context.nodes.a?.status === 'failed', { timeout: 10_000 })
    expect(sup.record('a')).toMatchObject({ status: 'failed', restarts: 2, error: 'crash #2' })
    expect(sup.createNode.calls).toHaveLength(3)
  })

  it('restarts a node that crashed while running, and it runs again', async () => {
    const sup = startSupervisor(2)
    sup.startNode('a')
    await sup.build('ok')
    await sup.nodeRunning('a')
    const crashed = sup.node('a')
    sup.watchNode.latest().sendBack({ type: 'node.crashed', error: 'libp2p stopped by itself' })
    sup.stopNode.resolve()
    await sup.build('ok')
    await waitFor(sup.actor, (s) => s.context.nodes.a?.restarts === 1, { timeout: 10_000 })
    await sup.nodeRunning('a')
    expect(sup.node('a')).not.toBe(crashed)
    expect(sup.record('a')).toMatchObject({ status: 'running', restarts: 1, error: 'libp2p stopped by itself' })
    expect(sup.actor.system.get('dht:a')?.getSnapshot().status).toBe('active')
  })

  it('starts a failed node again on request, with a fresh restart budget', async () => {
    const sup = startSupervisor(0)
    sup.startNode('a')
    await sup.build(new Error('port busy'))
    await waitFor(sup.actor, (s) => s.context.nodes.a?.status === 'failed', { timeout: 10_000 })
    sup.startNode('a')
    await sup.build('ok')
    await sup.nodeRunning('a')
    expect(sup.record('a')).toMatchObject({ status: 'running', restarts: 0 })
  })

  it('stops a node on stopNode and forgets it without restarting it', async () => {
    const sup = startSupervisor()
    sup.startNode('a')
    await sup.build('ok')
    await sup.nodeRunning('a')
    sup.actor.send({ type: 'supervisor.stopNode', alias: 'a' })
    expect(sup.node('a')?.getSnapshot().value).toBe('stopping')
    sup.stopNode.resolve()
    await waitFor(sup.actor, (s) => s.context.nodes.a === undefined, { timeout: 10_000 })
    expect(sup.node('a')).toBeUndefined()
    expect(sup.actor.system.get('dht:a')).toBeUndefined()
    expect(sup.createNode.calls).toHaveLength(1)
  })

  it('on shutdown stops every node and is stopped only once the last one has', async () => {
    const sup = startSupervisor()
    sup.startNode('a')
    sup.startNode('b')
    await sup.build('ok')
    await sup.build('ok')
    await sup.nodeRunning('a')
    await sup.nodeRunning('b')

    sup.actor.send({ type: 'supervisor.shutdown' })
    expect(sup.actor.getSnapshot().value).toBe('shuttingDown')
    expect(sup.node('a')?.getSnapshot().value).toBe('stopping')
    expect(sup.node('b')?.getSnapshot().value).toBe('stopping')
    expect(sup.stopNode.calls.map((c) => c.input.alias)).toEqual(['a', 'b'])

    sup.stopNode.calls[1]?.resolve()
    await waitFor(sup.actor, (s) => s.context.nodes.b === undefined, { timeout: 10_000 })
    expect(sup.actor.getSnapshot().value).toBe('shuttingDown')
    expect(Object.keys(sup.actor.getSnapshot().context.nodes)).toEqual(['a'])

    sup.stopNode.calls[0]?.resolve()
    await waitFor(sup.actor, (s) => s.matches('stopped'), { timeout: 10_000 })
    expect(sup.actor.getSnapshot().context.nodes).toEqual({})
    expect(sup.node('a')).toBeUndefined()
    expect(sup.node('b')).toBeUndefined()
  })

  it('does not restart a node that fails during shutdown', async () => {
    const sup = startSupervisor(3)
    sup.startNode('a')
    await sup.build('ok')
    await sup.nodeRunning('a')
    sup.actor.send({ type: 'supervisor.shutdown' })
    sup.stopNode.reject(new Error('datastore close failed'))
    await waitFor(sup.actor, (s) => s.matches('stopped'), { timeout: 10_000 })
    expect(sup.createNode.calls).toHaveLength(1)
    expect(sup.node('a')).toBeUndefined()
  })

  it('stops at once on shutdown when no node runs', () => {
    const sup = startSupervisor()
    sup.actor.send({ type: 'supervisor.shutdown' })
    expect(sup.actor.getSnapshot().value).toBe('stopped')
    sup.startNode('late')
    expect(sup.node('late')).toBeUndefined()
    expect(sup.actor.getSnapshot().context.nodes).toEqual({})
  })
})
