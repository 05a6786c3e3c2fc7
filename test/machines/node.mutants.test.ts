import { describe, expect, it } from 'vitest'
import { type AnyActorRef, createActor } from 'xstate'
import { shardOf, systemIds } from '../../src/machines/actor-ids.ts'
import { nodePublicContext } from '../../src/machines/node/node.machine.ts'
import type { NodeInput } from '../../src/machines/node/node.types.ts'
import { fakeNode, nodeInput } from '../support/fakes.ts'

// What a running node owns that its walks do not pin down (found by npm run mutate): its presence and
// pruner, one topic actor per topic with references counted, one shard per peer shard, channels
// released when they close, what its peer watch is given, and the client view.
const tick = () => new Promise((resolve) => setImmediate(resolve))

async function running(overrides: Partial<NodeInput> = {}) {
  const fakes = fakeNode()
  const input = nodeInput('n', overrides)
  const actor = createActor(fakes.machine, { input })
  actor.start()
  fakes.createNode.resolve({ peerId: '12D3KooWNode', addrs: ['/ip4/127.0.0.1/tcp/4001'] })
  await tick()
  const get = (id: string) => actor.system.get(id) as AnyActorRef | undefined
  const context = <T>(id: string) => get(id)?.getSnapshot().context as T
  return { ...fakes, actor, input, get, context }
}

describe('node edges', () => {
  it('runs its presence and, when configured, its pruner with the watermarks', async () => {
    const n = await running({ pruner: { high: 10, low: 8, graceMs: 500 } })
    expect(n.actor.getSnapshot().value).toBe('running')
    expect(n.context<{ alias: string }>(systemIds.presence('n')).alias).toBe('n')
    expect(n.context(systemIds.pruner('n'))).toMatchObject({ alias: 'n', high: 10, low: 8, graceMs: 500 })
    const bare = await running()
    expect(bare.get(systemIds.pruner('n'))).toBeUndefined()
  })

  it('watches libp2p peers with its alias and backoff settings', async () => {
    const n = await running()
    expect(n.watchPeers.latest().input).toEqual({ alias: 'n', backoff: n.input.backoff })
    expect(n.watchNode.latest().input).toEqual({ alias: 'n' })
  })

  it('one topic actor per topic: made from the request, retained by the next, released only if it exists', async () => {
    const n = await running()
    const id = systemIds.topic('n', 'chat')
    n.actor.send({ type: 'topics.ensure', topic: 'chat', meshTimeoutMs: 1_000, reprovideMs: 9_000 })
    expect(n.context(id)).toMatchObject({ alias: 'n', topic: 'chat', meshTimeoutMs: 1_000, reprovideMs: 9_000, refs: 1 })
    const first = n.get(id)
    n.actor.send({ type: 'topics.ensure', topic: 'chat', meshTimeoutMs: 1_000, reprovideMs: 9_000 })
    expect(n.get(id)).toBe(first)
    expect(n.context<{ refs: number }>(id).refs).toBe(2)
    n.actor.send({ type: 'topics.release', topic: 'other' })
    n.actor.send({ type: 'topics.release', topic: 'chat' })
    expect(n.context<{ refs: number }>(id).refs).toBe(1)
    expect(n.actor.getSnapshot().context.topics).toEqual(['chat'])
  })

  it('a topic that has left is forgotten; the next request makes a fresh one, others stay', async () => {
    const n = await running()
    const ensure = (topic: string) => n.actor.send({ type: 'topics.ensure', topic, meshTimeoutMs: 1_000, reprovideMs: 9_000 })
    ensure('chat')
    ensure('news')
    await tick() // the placeholder joins settle
    n.actor.send({ type: 'topics.release', topic: 'chat' })
    await tick() // ...and the leave
    await tick()
    expect(n.get(systemIds.topic('n', 'chat'))).toBeUndefined()
    expect(n.actor.getSnapshot().context.topics).toEqual(['news'])
    ensure('chat')
    expect(n.context<{ refs: number }>(systemIds.topic('n', 'chat')).refs).toBe(1)
  })

  it('one shard per peer shard, made by a route and never by a release', async () => {
    const n = await running()
    const peerId = '12D3KooWSomePeer'
    const shard = systemIds.peers('n', shardOf(peerId))
    n.actor.send({ type: 'peers.release', peerId })
    expect(n.get(shard)).toBeUndefined()
    const input = { alias: 'n', peerId, backoff: n.input.backoff }
    n.actor.send({ type: 'peers.route', peerId, input, spawn: true })
    expect(n.context(shard)).toMatchObject({ alias: 'n', shard: shardOf(peerId), peerIds: [peerId] })
    const first = n.get(shard)
    n.actor.send({ type: 'peers.route', peerId, input, spawn: true })
    n.actor.send({ type: 'peers.release', peerId })
    expect(n.get(shard)).toBe(first)
    expect(n.context<{ peerIds: string[] }>(shard).peerIds).toEqual([])
    expect(n.actor.getSnapshot().context.peerShards).toEqual([shardOf(peerId)])
  })

  it('a channel that closes is forgotten, the others stay', async () => {
    const n = await running()
    const ensure = (peerId: string) =>
      n.actor.send({ type: 'channels.ensure', peerId, protocol: '/chat/1', idleMs: 1_000, retryWindowMs: 5_000 })
    ensure('p1')
    ensure('p2')
    const p1 = systemIds.channel('n', 'p1', '/chat/1')
    expect(n.get(p1)?.getSnapshot().context).toMatchObject({
      alias: 'n',
      peerId: 'p1',
      protocol: '/chat/1',
      idleMs: 1_000,
      retryWindowMs: 5_000,
    })
    n.get(p1)?.send({ type: 'channel.close', reason: 'test' })
    await tick()
    expect(n.get(p1)).toBeUndefined()
    expect(n.actor.getSnapshot().context.channels).toEqual(['channel:p2:/chat/1'])
  })

  it('shows clients its peer id, addresses, connections and error', async () => {
    const n = await running()
    expect(nodePublicContext(n.actor.getSnapshot().context)).toEqual({
      alias: 'n',
      persistent: false,
      peerId: '12D3KooWNode',
      addrs: ['/ip4/127.0.0.1/tcp/4001'],
      connections: 0,
      error: null,
    })
    const fresh = fakeNode()
    const starting = createActor(fresh.machine, { input: nodeInput('m') })
    starting.start()
    expect(nodePublicContext(starting.getSnapshot().context)).toMatchObject({ peerId: null, addrs: [], error: null })
  })
})
