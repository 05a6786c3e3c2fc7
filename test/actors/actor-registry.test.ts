import { describe, expect, it } from 'vitest'
import { assign, createActor, setup } from 'xstate'
import { ActorRegistry, type RegistryChange, sameJson } from '../../src/actors/supervisor/actor-registry.ts'

describe('sameJson', () => {
  const values: unknown[] = [
    null,
    0,
    1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    'a',
    '',
    true,
    false,
    [],
    [1, 2],
    [2, 1],
    [null],
    [undefined],
    {},
    { a: 1 },
    { a: undefined },
    { a: 1, b: 2 },
    { b: 2, a: 1 },
    { a: { b: [1, { c: null }] } },
    { a: { b: [1, { c: 0 }] } },
    { a: new Date(0) },
    { a: '1970-01-01T00:00:00.000Z' },
    { connected: { syncing: 'idle' } },
    { connected: 'syncing' },
  ]
  it('agrees with comparing JSON.stringify output on every pair', () => {
    for (const a of values) for (const b of values) expect([a, b, sameJson(a, b)]).toEqual([a, b, JSON.stringify(a) === JSON.stringify(b)])
  })
})

describe('ActorRegistry', () => {
  const machine = setup({
    types: {
      context: {} as { alias: string; shard: number; peerIds: string[]; hidden: number },
      events: {} as { type: 'bump' } | { type: 'hide' } | { type: 'go' },
    },
  }).createMachine({
    context: { alias: 'r', shard: 3, peerIds: [], hidden: 0 },
    initial: 'a',
    states: {
      a: { tags: ['z', 'y'], on: { go: 'b' } },
      b: { tags: ['x'], on: { go: 'a' } },
    },
    on: {
      bump: { actions: assign({ peerIds: ({ context }) => [...context.peerIds, `p${context.peerIds.length}`] }) },
      hide: { actions: assign({ hidden: ({ context }) => context.hidden + 1 }) },
    },
  })

  it('counts one seq per change of the client view, with sorted tags, and reports the stop', () => {
    const registry = new ActorRegistry()
    const changes: RegistryChange[] = []
    registry.listen((c) => changes.push(c))
    // registered as a shard: its projection (catalog.ts) shows the count of peerIds, not `hidden`
    const actor = createActor(machine, { systemId: 'peers:r:3', inspect: registry.inspect })
    actor.start()
    const id = 'peers:r:3'
    expect(registry.get(id)).toEqual({
      systemId: id,
      kind: 'peers',
      parent: 'node:r',
      value: 'a',
      status: 'active',
      tags: ['y', 'z'],
      context: { alias: 'r', shard: 3, count: 0 },
      seq: 1,
    })
    actor.send({ type: 'hide' })
    expect(registry.get(id)?.seq).toBe(1)
    actor.send({ type: 'bump' })
    expect(registry.get(id)).toMatchObject({ context: { count: 1 }, seq: 2 })
    actor.send({ type: 'go' })
    expect(registry.get(id)).toMatchObject({ value: 'b', tags: ['x'], seq: 3 })
    actor.send({ type: 'go' })
    expect(registry.get(id)).toMatchObject({ value: 'a', tags: ['y', 'z'], seq: 4 })
    actor.stop()
    expect(registry.get(id)).toBeUndefined()
    expect(changes.map((c) => (c.type === 'snapshot' ? c.snapshot.seq : `stopped ${c.seq}`))).toEqual([1, 2, 3, 4, 5, 'stopped 6'])
  })

  it('builds the view of an actor no listener covers when asked, from its current snapshot, and counts what it saw', () => {
    const registry = new ActorRegistry()
    const nodes: RegistryChange[] = []
    registry.listen((c) => nodes.push(c), 'node:')
    const actor = createActor(machine, { systemId: 'peers:r:3', inspect: registry.inspect })
    actor.start()
    const id = 'peers:r:3'
    actor.send({ type: 'bump' })
    actor.send({ type: 'bump' })
    actor.send({ type: 'go' })
    // three changes nobody could see: the view asked for now is the current one, one change after the first
    expect(registry.get(id)).toMatchObject({ value: 'b', tags: ['x'], context: { count: 2 }, seq: 1 })
    expect(registry.list('peers:')).toEqual([registry.get(id)])
    actor.send({ type: 'hide' })
    expect(registry.get(id)?.seq).toBe(1)
    actor.send({ type: 'go' })
    expect(registry.get(id)).toMatchObject({ value: 'a', seq: 2 })
    expect(registry.countByKindAndState()).toEqual(new Map([['peers\u0000a', 1]]))
    // a listener that covers it from now on hears each change, seq following the last view
    const shards: RegistryChange[] = []
    const stop = registry.listen((c) => shards.push(c), 'peers:')
    actor.send({ type: 'bump' })
    actor.send({ type: 'hide' })
    actor.send({ type: 'go' })
    expect(shards.map((c) => (c.type === 'snapshot' ? [c.snapshot.value, c.snapshot.seq] : c.type))).toEqual([
      ['a', 3],
      ['b', 4],
    ])
    stop()
    actor.send({ type: 'go' })
    actor.stop()
    expect(registry.get(id)).toBeUndefined()
    expect(registry.list()).toEqual([])
    expect(shards).toHaveLength(2)
    expect(nodes).toEqual([])
  })

  it('tells a watched stop as its last snapshot, then the next seq; an unwatched one not at all', () => {
    const registry = new ActorRegistry()
    const changes: RegistryChange[] = []
    registry.listen((c) => changes.push(c), 'peers:r:')
    const watched = createActor(machine, { systemId: 'peers:r:3', inspect: registry.inspect }).start()
    const other = createActor(machine, { systemId: 'peers:s:3', inspect: registry.inspect }).start()
    watched.send({ type: 'bump' })
    other.send({ type: 'bump' })
    watched.stop()
    other.stop()
    expect(changes.map((c) => (c.type === 'snapshot' ? `${c.snapshot.status} ${c.snapshot.seq}` : `stopped ${c.seq}`))).toEqual([
      'active 1',
      'active 2',
      'stopped 3',
      'stopped 4',
    ])
    expect(registry.list()).toEqual([])
  })
})
