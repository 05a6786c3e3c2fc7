import { describe, expect, it } from 'vitest'
import { type AnyActorRef, createActor, SimulatedClock, waitFor } from 'xstate'
import type { DhtEmitted } from '../../src/machines/dht/dht.types.ts'
import { dhtOp, fakeNode, nodeInput } from '../support/fakes.ts'

const started = { peerId: '12D3KooWFakePeer', addrs: ['/ip4/127.0.0.1/tcp/4001'] }

/** A node actor with fake libp2p side effects and a fake DHT child, on a simulated clock. */
function startNode(alias = 'n1') {
  const fakes = fakeNode()
  const actor = createActor(fakes.machine, {
    input: nodeInput(alias, { dhtQueueLimit: 5, dhtConcurrency: 3 }),
    clock: new SimulatedClock(),
  })
  actor.start()
  return { ...fakes, actor, alias }
}

async function runningNode(alias = 'n1') {
  const node = startNode(alias)
  node.createNode.resolve(started)
  await waitFor(node.actor, (s) => s.matches('running'), { timeout: 10_000 })
  return node
}

describe('node machine', () => {
  it('builds the node, runs, and spawns its DHT as dht:<alias>, told to bootstrap', async () => {
    const node = startNode('n1')
    expect(node.actor.getSnapshot().value).toBe('starting')
    expect(node.createNode.pending().input).toEqual({ alias: 'n1' })
    expect(node.actor.system.get('dht:n1')).toBeUndefined()

    node.createNode.resolve(started)
    await waitFor(node.actor, (s) => s.matches('running'), { timeout: 10_000 })
    expect(node.actor.getSnapshot().context).toMatchObject({ peerId: started.peerId, addrs: started.addrs })
    const dht = node.actor.system.get('dht:n1') as AnyActorRef
    expect(dht).toBeDefined()
    expect(dht.getSnapshot().value).toBe('bootstrapping')
    expect(dht.getSnapshot().context).toMatchObject({ alias: 'n1', queueLimit: 5, concurrency: 3 })
    expect(node.dht.bootstrap.pending().input).toEqual({ alias: 'n1' })
    expect(node.reports).toEqual([])
  })

  it('ends in failed with the error when the node cannot be built, and reports it', async () => {
    const node = startNode('n1')
    node.createNode.reject(new Error('listen EADDRINUSE 127.0.0.1:4001'))
    await waitFor(node.actor, (s) => s.status === 'done', { timeout: 10_000 })
    expect(node.actor.getSnapshot().value).toBe('failed')
    expect(node.actor.getSnapshot().context.error).toBe('listen EADDRINUSE 127.0.0.1:4001')
    // it never ran, so the supervisor must not restart it
    expect(node.reports).toEqual([{ alias: 'n1', error: 'listen EADDRINUSE 127.0.0.1:4001', started: false }])
    expect(node.stopNode.calls).toEqual([])
  })

  it('stops on node.stop: the DHT rejects its queue, then the node is torn down and reported stopped', async () => {
    const node = await runningNode('n1')
    const dht = node.actor.system.get('dht:n1') as AnyActorRef
    const rejected: string[] = []
    dht.on('dht.opRejected', (e: DhtEmitted) => rejected.push(e.type === 'dht.opRejected' ? `${e.id}:${e.reason}` : ''))
    dht.send({ type: 'dht.enqueue', op: dhtOp('q1') })

    node.actor.send({ type: 'node.stop' })
    expect(node.actor.getSnapshot().value).toBe('stopping')
    expect(rejected).toEqual(['q1:stopped'])
    expect(dht.getSnapshot().status).toBe('done')
    expect(node.stopNode.pending().input).toEqual({ alias: 'n1' })
    expect(node.reports).toEqual([])

    node.stopNode.resolve()
    await waitFor(node.actor, (s) => s.status === 'done', { timeout: 10_000 })
    expect(node.actor.getSnapshot().value).toBe('stopped')
    expect(node.reports).toEqual([{ alias: 'n1' }])
    expect(node.watchNode.instances.every((i) => i.stopped)).toBe(true)
  })

  it('goes through stopping to failed when libp2p crashes, and reports the crash', async () => {
    const node = await runningNode('n1')
    node.watchNode.latest().sendBack({ type: 'node.crashed', error: 'transport closed unexpectedly' })
    expect(node.actor.getSnapshot().value).toBe('stopping')
    node.stopNode.resolve()
    await waitFor(node.actor, (s) => s.status === 'done', { timeout: 10_000 })
    expect(node.actor.getSnapshot().value).toBe('failed')
    expect(node.reports).toEqual([{ alias: 'n1', error: 'transport closed unexpectedly', started: true }])
  })

  it('can be stopped while it is still starting: the build is aborted and it ends stopped', async () => {
    const node = startNode('n1')
    const build = node.createNode.pending()
    node.actor.send({ type: 'node.stop' })
    expect(node.actor.getSnapshot().error).toBeUndefined()
    expect(node.actor.getSnapshot().value).toBe('stopping')
    expect(build.signal.aborted).toBe(true)
    node.stopNode.resolve()
    await waitFor(node.actor, (s) => s.status !== 'active', { timeout: 10_000 })
    expect(node.actor.getSnapshot().value).toBe('stopped')
    expect(node.reports).toEqual([{ alias: 'n1' }])
  })

  it('ends in failed when tearing down fails', async () => {
    const node = await runningNode('n1')
    node.actor.send({ type: 'node.stop' })
    node.stopNode.reject(new Error('blockstore close failed'))
    await waitFor(node.actor, (s) => s.status === 'done', { timeout: 10_000 })
    expect(node.actor.getSnapshot().value).toBe('failed')
    expect(node.reports).toEqual([{ alias: 'n1', error: 'blockstore close failed', started: true }])
  })

  it('keeps the addresses and connection count libp2p reports', async () => {
    const node = await runningNode('n1')
    const watcher = node.watchNode.latest()
    watcher.sendBack({ type: 'node.addrs', addrs: ['/ip4/127.0.0.1/tcp/4002'] })
    watcher.sendBack({ type: 'node.connections', count: 3 })
    expect(node.actor.getSnapshot().context).toMatchObject({ addrs: ['/ip4/127.0.0.1/tcp/4002'], connections: 3 })
  })
})
