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
})
