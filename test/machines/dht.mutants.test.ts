import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import { dhtPublicContext } from '../../src/machines/dht/dht.machine.ts'
import type { DhtEmitted, DhtEvent, DhtInput } from '../../src/machines/dht/dht.types.ts'
import { dhtInput, dhtOp, fakeDht } from '../support/fakes.ts'

// What the DHT actor promises its callers and clients that the walks do not pin down (found by npm run
// mutate): the routing table size in every state, each operation's outcome by id with its message,
// cancelling and stopping a running operation, and the client view.
const tick = () => new Promise((resolve) => setImmediate(resolve))

function dht(overrides: Partial<DhtInput> = {}) {
  const fakes = fakeDht()
  const clock = new SimulatedClock()
  const input = dhtInput(overrides)
  const actor = createActor(fakes.machine, { input, clock })
  const emitted: DhtEmitted[] = []
  for (const type of ['dht.opStart', 'dht.opDone', 'dht.opFailed', 'dht.opRejected'] as const) actor.on(type, (e) => emitted.push(e))
  actor.start()
  const table = (event: DhtEvent) => fakes.table.latest().sendBack(event)
  const size = () => actor.getSnapshot().context.routingTableSize
  const value = () => actor.getSnapshot().value
  const runner = (id: string) => fakes.runOp.instances.find((i) => i.input.op.id === id)
  const ready = async () => {
    actor.send({ type: 'dht.bootstrap' })
    fakes.bootstrap.resolve(2)
    await tick()
  }
  const outcomes = () => emitted.filter((e) => e.type !== 'dht.opStart')
  return { ...fakes, watcher: fakes.table, actor, clock, input, emitted, table, size, value, runner, ready, outcomes }
}

describe('dht edges', () => {
  it('watches and bootstraps its own node', () => {
    const d = dht()
    d.actor.send({ type: 'dht.bootstrap' })
    expect(d.watcher.latest().input).toEqual({ alias: 'a' })
    expect(d.bootstrap.pending().input).toEqual({ alias: 'a' })
  })

  it('knows the routing table size in every state, from either event', async () => {
    const d = dht()
    d.table({ type: 'dht.routingTable', size: 3 })
    expect(d.size()).toBe(3)
    d.table({ type: 'dht.peerConnected', routingTableSize: 4 })
    expect(d.size()).toBe(4)
    d.table({ type: 'dht.routingTable', size: 0 })
    d.actor.send({ type: 'dht.bootstrap' })
    expect(d.value()).toBe('bootstrapping')
    d.table({ type: 'dht.routingTable', size: 0 })
    d.table({ type: 'dht.peerConnected', routingTableSize: 0 })
    expect([d.value(), d.size()]).toEqual(['bootstrapping', 0])
    d.clock.increment(d.input.bootstrapTimeoutMs)
    expect(d.value()).toBe('degraded')
    d.table({ type: 'dht.routingTable', size: 0 })
    expect(d.size()).toBe(0)
    d.table({ type: 'dht.routingTable', size: 2 })
    expect([d.value(), d.size()]).toEqual(['ready', 2])
    d.table({ type: 'dht.routingTable', size: 5 })
    expect([d.value(), d.size()]).toEqual(['ready', 5])
    d.table({ type: 'dht.routingTable', size: 0 })
    expect([d.value(), d.size()]).toEqual(['bootstrapping', 0])
    d.table({ type: 'dht.routingTable', size: 6 })
    expect([d.value(), d.size()]).toEqual(['ready', 6])
  })

  it('degraded: a new peer bootstraps again with its table size, and so does dht.bootstrap', async () => {
    const d = dht()
    d.actor.send({ type: 'dht.bootstrap' })
    d.clock.increment(d.input.bootstrapTimeoutMs)
    expect(d.value()).toBe('degraded')
    d.table({ type: 'dht.peerConnected', routingTableSize: 0 })
    expect([d.value(), d.size()]).toEqual(['bootstrapping', 0])
    d.clock.increment(d.input.bootstrapTimeoutMs)
    d.actor.send({ type: 'dht.bootstrap' })
    expect(d.value()).toBe('bootstrapping')
  })

  it('a table that empties while bootstrapping again is what the timeout sees; a peer in degraded brings its table size', async () => {
    for (const emptied of [
      { type: 'dht.routingTable', size: 0 },
      { type: 'dht.peerConnected', routingTableSize: 0 },
    ] as const) {
      const d = dht()
      await d.ready()
      d.actor.send({ type: 'dht.bootstrap' })
      expect([d.value(), d.size()]).toEqual(['bootstrapping', 2])
      d.table(emptied)
      d.clock.increment(d.input.bootstrapTimeoutMs)
      expect([d.value(), d.size()]).toEqual(['degraded', 0])
      d.table({ type: 'dht.peerConnected', routingTableSize: 3 })
      expect([d.value(), d.size()]).toEqual(['bootstrapping', 3])
      d.clock.increment(d.input.bootstrapTimeoutMs)
      expect(d.value()).toBe('ready')
    }
  })

  it('a failed bootstrap is reported to clients until it is ready', async () => {
    const d = dht()
    d.actor.send({ type: 'dht.bootstrap' })
    d.bootstrap.pending().reject(new Error('bootstrap peers unreachable'))
    await tick()
    expect(dhtPublicContext(d.actor.getSnapshot().context).lastError).toBe('bootstrap peers unreachable')
  })

  it('each operation ends once, by id: done with its result (null when none) or failed with its error', async () => {
    const d = dht({ concurrency: 3 })
    await d.ready()
    for (const id of ['o1', 'o2', 'o3']) d.actor.send({ type: 'dht.enqueue', op: dhtOp(id) })
    d.runner('o1')?.sendBack({ type: 'dht.opSettled', id: 'o1', result: ['x'] })
    d.runner('o2')?.sendBack({ type: 'dht.opSettled', id: 'o2' })
    d.runner('o3')?.sendBack({ type: 'dht.opSettled', id: 'o3', error: { name: 'NotFoundError', message: 'no providers' } })
    d.actor.send({ type: 'dht.opSettled', id: 'o3', result: 'late' })
    expect(d.outcomes()).toEqual([
      { type: 'dht.opDone', id: 'o1', result: ['x'] },
      { type: 'dht.opDone', id: 'o2', result: null },
      { type: 'dht.opFailed', id: 'o3', error: { name: 'NotFoundError', message: 'no providers' } },
    ])
    expect(d.actor.getSnapshot().context.running).toEqual([])
  })

  it('an operation that finishes while the DHT bootstraps again still reaches its caller', async () => {
    const d = dht()
    await d.ready()
    d.actor.send({ type: 'dht.enqueue', op: dhtOp('o1') })
    d.table({ type: 'dht.routingTable', size: 0 })
    expect(d.value()).toBe('bootstrapping')
    d.runner('o1')?.sendBack({ type: 'dht.opSettled', id: 'o1', result: 1 })
    expect(d.outcomes()).toEqual([{ type: 'dht.opDone', id: 'o1', result: 1 }])
    expect(d.actor.getSnapshot().context.running).toEqual([])
  })

  it('cancelling a running operation stops its runner, says so, frees its slot for the next, and a late result is dropped', async () => {
    const d = dht({ concurrency: 2 })
    await d.ready()
    for (const id of ['o1', 'o2', 'o3']) d.actor.send({ type: 'dht.enqueue', op: dhtOp(id) })
    d.actor.send({ type: 'dht.cancel', id: 'o2' })
    expect(d.runner('o2')?.stopped).toBe(true)
    expect(d.actor.getSnapshot().context.running.map((o) => o.id)).toEqual(['o1', 'o3'])
    d.actor.send({ type: 'dht.opSettled', id: 'o2', result: 'late' })
    d.actor.send({ type: 'dht.cancel', id: 'o4' })
    expect(d.outcomes()).toEqual([{ type: 'dht.opRejected', id: 'o2', reason: 'cancelled', message: 'DHT operation cancelled' }])
  })

  it('cancelling a queued operation says so', () => {
    const d = dht()
    d.actor.send({ type: 'dht.enqueue', op: dhtOp('o1') })
    d.actor.send({ type: 'dht.cancel', id: 'o1' })
    expect(d.outcomes()).toEqual([{ type: 'dht.opRejected', id: 'o1', reason: 'cancelled', message: 'DHT operation cancelled' }])
  })

  it('a full queue refuses with how many wait', () => {
    const d = dht({ queueLimit: 1 })
    d.actor.send({ type: 'dht.enqueue', op: dhtOp('o1') })
    d.actor.send({ type: 'dht.enqueue', op: dhtOp('o2') })
    expect(d.outcomes()).toEqual([
      { type: 'dht.opRejected', id: 'o2', reason: 'queueFull', message: 'DHT operation queue is full (1 waiting)' },
    ])
  })

  it('stop stops every runner, refuses running and queued operations and leaves nothing behind', async () => {
    const d = dht({ concurrency: 1 })
    await d.ready()
    d.actor.send({ type: 'dht.enqueue', op: dhtOp('o1') })
    d.actor.send({ type: 'dht.enqueue', op: dhtOp('o2') })
    d.actor.send({ type: 'dht.stop' })
    expect(d.runner('o1')?.stopped).toBe(true)
    const message = 'DHT stopped before the operation ran'
    expect(d.outcomes()).toEqual([
      { type: 'dht.opRejected', id: 'o1', reason: 'stopped', message },
      { type: 'dht.opRejected', id: 'o2', reason: 'stopped', message },
    ])
    expect(dhtPublicContext(d.actor.getSnapshot().context)).toMatchObject({ queued: 0, running: 0, queue: [] })
  })

  it('shows clients the queue (first 20, id/kind/key only), the running count, the table and the attempts', () => {
    const d = dht({ queueLimit: 30 })
    d.actor.send({ type: 'dht.bootstrap' })
    for (let i = 0; i < 25; i++) d.actor.send({ type: 'dht.enqueue', op: { ...dhtOp(`o${i}`, 'provide'), limit: 3 } })
    const view = dhtPublicContext(d.actor.getSnapshot().context)
    expect(view).toMatchObject({ alias: 'a', queued: 25, running: 0, routingTableSize: 0, attempts: 1, lastError: null })
    expect(view.queue).toHaveLength(20)
    expect(view.queue[0]).toEqual({ id: 'o0', kind: 'provide', key: 'key-o0' })
    expect(view.runningOps).toEqual([])
  })

  it('shows clients the running operations with the time each was enqueued', () => {
    const d = dht({ concurrency: 2 })
    d.actor.send({ type: 'dht.bootstrap' })
    d.actor.send({ type: 'dht.peerConnected', routingTableSize: 1 })
    for (let i = 0; i < 3; i++) d.actor.send({ type: 'dht.enqueue', op: dhtOp(`o${i}`, 'findPeer') })
    const view = dhtPublicContext(d.actor.getSnapshot().context)
    expect(view).toMatchObject({ queued: 1, running: 2 })
    expect(view.runningOps).toEqual([
      { id: 'o0', kind: 'findPeer', key: 'key-o0', enqueuedAt: expect.any(Number) },
      { id: 'o1', kind: 'findPeer', key: 'key-o1', enqueuedAt: expect.any(Number) },
    ])
  })
})
