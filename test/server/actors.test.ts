import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { VERSION } from '../../src/version.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf } from '../support/peers.ts'
import { watchActors } from '../support/watch-actors.ts'

interface NodeInfo {
  peerid: string
  alias: string
  addrs: string[]
  dhtReady: boolean
  version: string
  connections: number
}

/** Each snapshot of one actor carries the previous seq plus one: a client can detect a gap. */
function expectConsecutive(history: ActorSnapshot[]): void {
  for (let i = 1; i < history.length; i++)
    expect(history[i]?.seq, JSON.stringify(history.map((h) => [h.value, h.seq]))).toBe((history[i - 1]?.seq ?? 0) + 1)
}

describe('actors over the WebSocket', () => {
  let a: TestDaemon
  let b: TestDaemon | undefined
  let client: SwitchboardClient

  beforeAll(async () => {
    a = await startTestDaemon({ dhtBootstrapTimeoutMs: 1_500 })
    client = await a.client()
  })
  afterAll(async () => {
    await b?.destroy()
    await a?.destroy()
  })

  it('node.info describes the bound peer', async () => {
    const info = await client.call<NodeInfo>('node.info')
    expect(info).toEqual({
      peerid: a.peerId,
      alias: 'peer-a',
      addrs: expect.any(Array),
      dhtReady: false,
      version: VERSION,
      connections: 0,
      // loopback only: nothing public to verify, no relay holds a reservation for it
      reachability: { status: 'private', verified: [], relayed: [] },
      // peer-a relays by default, nobody has reserved yet
      relay: { reservations: 0 },
    })
    expect(info.peerid).toMatch(/^12D3KooW/)
    expect(info.addrs.length).toBeGreaterThan(0)
    for (const addr of info.addrs) expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${info.peerid}$`))
  })

  it('machines.list returns every kind with its definition and client events', async () => {
    const { machines } = await client.call<{
      machines: Array<{ kind: string; definition: { states: Record<string, unknown> }; clientEvents: string[] }>
    }>('machines.list')
    const byKind = new Map(machines.map((m) => [m.kind, m]))
    expect([...byKind.keys()]).toEqual(expect.arrayContaining(['supervisor', 'node', 'dht']))
    expect(Object.keys(byKind.get('dht')?.definition.states ?? {})).toEqual(
      expect.arrayContaining(['idle', 'bootstrapping', 'ready', 'degraded', 'stopped']),
    )
    expect(Object.keys(byKind.get('node')?.definition.states ?? {})).toEqual(
      expect.arrayContaining(['starting', 'running', 'stopping', 'stopped', 'failed']),
    )
    expect(byKind.get('dht')?.clientEvents).toEqual(['dht.bootstrap'])
    expect(byKind.get('node')?.clientEvents).toEqual(['node.stop'])
    expect(byKind.get('supervisor')?.clientEvents).toEqual(['supervisor.stopNode'])
  })

  it('actors.list lists the tree, filtered by prefix', async () => {
    const all = await client.call<{ actors: ActorSnapshot[] }>('actors.list')
    expect(all.actors.map((s) => s.systemId)).toEqual(expect.arrayContaining(['supervisor', 'node:peer-a', 'dht:peer-a']))
    const node = all.actors.find((s) => s.systemId === 'node:peer-a')
    expect(node).toMatchObject({ kind: 'node', parent: 'supervisor', value: 'running', status: 'active', tags: [] })
    expect(node?.context).toMatchObject({ alias: 'peer-a', peerId: a.peerId, persistent: true })
    expect(node?.seq).toBeGreaterThan(0)
    // contexts are projections: no key material, no actor refs
    expect(JSON.stringify(all.actors)).not.toMatch(/privateKey|"_parent"|"sessionId"/)

    const dht = await client.call<{ actors: ActorSnapshot[] }>('actors.list', { prefix: 'dht:' })
    expect(dht.actors.map((s) => s.systemId)).toEqual(['dht:peer-a'])
    expect(dht.actors[0]).toMatchObject({ kind: 'dht', parent: 'node:peer-a' })
    expect((await client.call<{ actors: ActorSnapshot[] }>('actors.list', { prefix: 'topic:' })).actors).toEqual([])
  })

  it('actors.send: a client event is processed and its value returned; other events 403, unknown actors 404', async () => {
    const watch = await watchActors(client, 'dht:peer-a')
    await watch.until('dht:peer-a', (s) => s.value === 'degraded')
    expect(await client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.bootstrap' } })).toEqual({
      value: 'bootstrapping',
    })
    await watch.until('dht:peer-a', (s) => s.value === 'degraded')
    watch.stop()

    expect(await codeOf(client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.stop' } }))).toBe(403)
    expect(await codeOf(client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.enqueue', op: {} } }))).toBe(403)
    expect(await codeOf(client.call('actors.send', { systemId: 'node:peer-a', event: { type: 'node.crashed', error: 'x' } }))).toBe(403)
    expect(await codeOf(client.call('actors.send', { systemId: 'supervisor', event: { type: 'supervisor.shutdown' } }))).toBe(403)
    // peer-a is the daemon's own: no client stops it
    expect(await codeOf(client.call('actors.send', { systemId: 'node:peer-a', event: { type: 'node.stop' } }))).toBe(403)
    expect(
      await codeOf(client.call('actors.send', { systemId: 'supervisor', event: { type: 'supervisor.stopNode', alias: 'peer-a' } })),
    ).toBe(403)
    expect(await codeOf(client.call('actors.send', { systemId: 'dht:nobody', event: { type: 'dht.bootstrap' } }))).toBe(404)
    expect(await codeOf(client.call('actors.send', { systemId: 'nokind:x', event: { type: 'dht.bootstrap' } }))).toBe(404)
    // a refused event changed nothing
    expect(a.core.actors.registry.get('dht:peer-a')?.value).toBe('degraded')
    expect(a.core.actors.registry.get('node:peer-a')?.value).toBe('running')
  })

  it('inspect.subscribe pushes inspection events', async () => {
    const inspector = await a.client()
    const seen = inspector.waitFor<{ type: string; actorId: string; event?: { type: string } }>(
      'inspect.event',
      (e) => e.type === '@xstate.event' && e.actorId === 'dht:peer-a' && e.event?.type === 'dht.bootstrap',
    )
    expect(await inspector.call('inspect.subscribe')).toBeNull()
    await client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.bootstrap' } })
    const event = await seen
    expect(JSON.stringify(event)).not.toMatch(/context/)

    // a second inspect.subscribe on the connection changes nothing: every event still comes once
    expect(await inspector.call('inspect.subscribe')).toBeNull()
    const bootstraps: unknown[] = []
    inspector.on<{ type: string; actorId: string; event?: { type: string } }>('inspect.event', (e) => {
      if (e.type === '@xstate.event' && e.actorId === 'dht:peer-a' && e.event?.type === 'dht.bootstrap') bootstraps.push(e)
    })
    // pushes arrive in order: once the marker that follows it is here, every copy would be too
    const marker = inspector.waitFor<{ type: string; actorId: string; event?: { type: string } }>(
      'inspect.event',
      (e) => e.type === '@xstate.event' && e.actorId === 'dht:peer-a' && e.event?.type === 'dht.routingTable',
    )
    await client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.bootstrap' } })
    a.core.actors.lookup.dht('peer-a')?.send({ type: 'dht.routingTable', size: 0 })
    await marker
    expect(bootstraps).toHaveLength(1)
    await inspector.close()
  })

  it('actors.subscribe: dht:peer-a goes bootstrapping -> degraded alone, then ready when a second daemon bootstraps from it', async () => {
    const watch = await watchActors(client, 'dht:')
    await watch.until('dht:peer-a', (s) => s.value === 'degraded')
    const before = watch.history('dht:peer-a').length
    // from degraded, a client asks for another attempt: it is bootstrapping, then degraded again
    await client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.bootstrap' } })
    await watch.until('dht:peer-a', (s) => s.value === 'degraded')
    const attempt = watch.history('dht:peer-a').slice(before - 1)
    const values = attempt.map((s) => s.value)
    expect(values[0]).toBe('degraded')
    expect(values.indexOf('bootstrapping')).toBeGreaterThan(0)
    expect(values.lastIndexOf('degraded')).toBeGreaterThan(values.indexOf('bootstrapping'))
    expect(attempt.find((s) => s.value === 'bootstrapping')?.tags).toEqual([])
    expectConsecutive(watch.history('dht:peer-a'))

    const addr = (await client.call<NodeInfo>('node.info')).addrs[0] ?? ''
    b = await startTestDaemon({ bootstrap: [addr], dhtBootstrapTimeoutMs: 30_000 })
    const ready = await watch.until('dht:peer-a', (s) => s.value === 'ready')
    expect(ready.tags).toEqual(['dhtReady'])
    expect((ready.context as { routingTableSize: number }).routingTableSize).toBeGreaterThan(0)
    expectConsecutive(watch.history('dht:peer-a'))
    expect(await client.call<NodeInfo>('node.info')).toMatchObject({ dhtReady: true })

    const bClient = await b.client()
    const bWatch = await watchActors(bClient, 'dht:')
    await bWatch.until('dht:peer-a', (s) => s.value === 'ready')
    expect(await bClient.call<NodeInfo>('node.info')).toMatchObject({ dhtReady: true })
    watch.stop()
  })

  it('actors.unsubscribe stops the pushes of that subscription; an unknown one is 404', async () => {
    const pushes = new Map<string, number>()
    const off = client.on<{ subscription: string }>('actor.snapshot', (p) =>
      pushes.set(p.subscription, (pushes.get(p.subscription) ?? 0) + 1),
    )
    const first = await watchActors(client, 'dht:peer-a')
    const second = await watchActors(client, 'dht:peer-a')
    expect(first.subscription).not.toBe(second.subscription)
    expect(await client.call('actors.unsubscribe', { subscription: first.subscription })).toBeNull()
    const seq = second.latest('dht:peer-a')?.seq ?? 0
    await client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.bootstrap' } })
    // the registry pushes one change to subscriptions in the order they were made, so by the time the
    // second one has seen the change, a push to the first would have arrived before it
    await second.until('dht:peer-a', (s) => s.seq > seq)
    expect(pushes.get(second.subscription)).toBeGreaterThan(0)
    expect(pushes.get(first.subscription) ?? 0).toBe(0)
    off()

    expect(await codeOf(client.call('actors.unsubscribe', { subscription: first.subscription }))).toBe(404)
    expect(await codeOf(client.call('actors.unsubscribe', { subscription: 'never-made' }))).toBe(404)
    expect(await client.call('actors.unsubscribe', { subscription: second.subscription })).toBeNull()
  })
})
