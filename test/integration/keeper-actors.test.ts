import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { watchActors } from '../support/watch-actors.ts'

type Listed = { actors: ActorSnapshot[] }

/** Presence, the connection pruner and the DHT's queued work, as a client of a real daemon sees them. */
describe('presence and pruner actors on a real node', () => {
  let a: TestDaemon
  let client: SwitchboardClient
  const fillers: NodeHandle[] = []

  beforeAll(async () => {
    a = await startTestDaemon({ maxConnections: 1, lowWatermark: 0, pruneGraceMs: 0, dhtBootstrapTimeoutMs: 60_000 })
    client = await a.client()
  })
  afterAll(async () => {
    await Promise.all(fillers.map((f) => f.stop().catch(() => {})))
    await a?.destroy()
  })

  it('both are in actors.list under their node, presence silent and the pruner idle', async () => {
    const { actors } = await client.call<Listed>('actors.list')
    const presence = actors.find((s) => s.systemId === 'presence:peer-a')
    const pruner = actors.find((s) => s.systemId === 'pruner:peer-a')
    expect(presence).toMatchObject({ kind: 'presence', parent: 'node:peer-a', value: 'silent', status: 'active' })
    expect(presence?.context).toMatchObject({ alias: 'peer-a', nickname: null, published: 0, online: 0 })
    expect(pruner).toMatchObject({ kind: 'pruner', parent: 'node:peer-a', value: 'idle', status: 'active' })
    expect(pruner?.context).toMatchObject({ alias: 'peer-a', high: 1, low: 0, graceMs: 0, pruned: 0 })
    const { machines } = await client.call<{ machines: Array<{ kind: string }> }>('machines.list')
    expect(machines.map((m) => m.kind)).toEqual(expect.arrayContaining(['presence', 'pruner']))
  })

  it('presence.announce moves the presence actor to announcing; it waits for the republish with the record out', async () => {
    const watch = await watchActors(client, 'presence:')
    expect(await client.call('presence.announce', { nickname: 'alice', ttlSeconds: 60 })).toBeNull()
    const waiting = await watch.until(
      'presence:peer-a',
      (s) => JSON.stringify(s.value) === JSON.stringify({ announcing: { waiting: 'quiet' } }),
    )
    expect(waiting.context).toMatchObject({ nickname: 'alice', ttlSeconds: 60, published: 1, lastError: null })
    const seen = watch.history('presence:peer-a').map((s) => JSON.stringify(s.value))
    expect(seen).toContain(JSON.stringify({ announcing: 'publishing' }))
    // the façade answers from the actor: a second announce keeps the nickname, changes the lifetime
    await client.call('presence.announce', { ttlSeconds: 30 })
    expect((await client.call<Listed>('actors.list', { prefix: 'presence:' })).actors[0]?.context).toMatchObject({
      nickname: 'alice',
      ttlSeconds: 30,
      published: 2,
    })
    watch.stop()
  })

  it('a connection above the high watermark makes the pruner run a round and close it', async () => {
    const watch = await watchActors(client, 'pruner:')
    const aAddr = multiaddr(a.core.nodes.info('peer-a').addrs[0] ?? '')
    for (let i = 0; i < 2; i++) {
      const filler = await startRawNode()
      fillers.push(filler)
      await filler.libp2p.dial(aAddr)
    }
    const after = await watch.until('pruner:peer-a', (s) => s.value === 'idle' && (s.context as { pruned: number }).pruned >= 1)
    expect(watch.history('pruner:peer-a').some((s) => s.value === 'pruning')).toBe(true)
    expect(after.context).toMatchObject({ high: 1, low: 0, lastError: null })
    expect(a.core.nodes.services('peer-a').protection.pruner.pruned).toBe((after.context as { pruned: number }).pruned)
    watch.stop()
  })

  it('a DHT operation waiting for the DHT is plain data in the dht actor; cancelling removes it', async () => {
    const watch = await watchActors(client, 'dht:')
    const controller = new AbortController()
    const { peerIdFromString } = await import('@libp2p/peer-id')
    const lookup = a.core.dht.findPeer('peer-a', peerIdFromString(fillers[0]?.libp2p.peerId.toString() ?? ''), controller.signal)
    const queued = await watch.until('dht:peer-a', (s) => (s.context as { queued: number }).queued === 1)
    expect((queued.context as { queue: unknown[] }).queue).toEqual([
      { id: expect.any(String), kind: 'findPeer', key: fillers[0]?.libp2p.peerId.toString() },
    ])
    controller.abort(new Error('gave up'))
    await expect(lookup).rejects.toThrow('gave up')
    await watch.until('dht:peer-a', (s) => (s.context as { queued: number }).queued === 0)
    watch.stop()
  })

  it('stopping the node stops both actors', async () => {
    expect(a.core.actors.registry.get('presence:peer-a')).toBeDefined()
    await a.core.nodes.stop('peer-a')
    expect(a.core.actors.registry.get('presence:peer-a')).toBeUndefined()
    expect(a.core.actors.registry.get('pruner:peer-a')).toBeUndefined()
  })
})
