import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock, waitFor } from 'xstate'
import type { DhtEmitted, DhtInput } from '../../src/machines/dht/dht.types.ts'
import { dhtInput, dhtOp, fakeDht } from '../support/fakes.ts'

type Rejection = Pick<Extract<DhtEmitted, { type: 'dht.opRejected' }>, 'id' | 'reason'>

/** A DHT actor with fake bootstrap, routing table and runners, on a simulated clock. */
function startDht(overrides: Partial<DhtInput> = {}) {
  const fakes = fakeDht()
  const clock = new SimulatedClock()
  const input = dhtInput(overrides)
  const actor = createActor(fakes.machine, { input, clock })
  const started: string[] = []
  const rejected: Rejection[] = []
  let mostRunning = 0
  actor.on('dht.opStart', (e) => {
    started.push(e.op.id)
    mostRunning = Math.max(mostRunning, fakes.runOp.live().length)
  })
  actor.on('dht.opRejected', (e) => rejected.push({ id: e.id, reason: e.reason }))
  actor.subscribe((s) => {
    mostRunning = Math.max(mostRunning, s.context.running.length)
  })
  actor.start()
  return {
    ...fakes,
    actor,
    clock,
    input,
    started,
    rejected,
    mostRunning: () => mostRunning,
    enqueue: (...ids: string[]) => {
      for (const id of ids) actor.send({ type: 'dht.enqueue', op: dhtOp(id) })
    },
    /** The routing table gained a peer: what libp2p reports once a DHT peer is connected. */
    peerJoined: () => fakes.table.latest().sendBack({ type: 'dht.peerConnected', routingTableSize: 1 }),
    settle: (id: string) => fakes.runOp.latest((i) => i.input.op.id === id).sendBack({ type: 'dht.opSettled', id }),
    queued: () => actor.getSnapshot().context.queue.map((o) => o.id),
    running: () => actor.getSnapshot().context.running.map((o) => o.id),
  }
}

/** Bootstrap and reach ready through a routing-table peer. */
function readyDht(overrides: Partial<DhtInput> = {}) {
  const dht = startDht(overrides)
  dht.actor.send({ type: 'dht.bootstrap' })
  dht.peerJoined()
  expect(dht.actor.getSnapshot().value).toBe('ready')
  return dht
}

describe('dht machine', () => {
  it('starts operations enqueued while bootstrapping in the order they came, once ready', async () => {
    const dht = startDht({ concurrency: 3 })
    dht.enqueue('o1')
    dht.actor.send({ type: 'dht.bootstrap' })
    dht.enqueue('o2', 'o3')
    expect(dht.actor.getSnapshot().value).toBe('bootstrapping')
    expect(dht.started).toEqual([])
    expect(dht.queued()).toEqual(['o1', 'o2', 'o3'])

    dht.bootstrap.resolve(2)
    await waitFor(dht.actor, (s) => s.matches('ready'), { timeout: 10_000 })
    expect(dht.started).toEqual(['o1', 'o2', 'o3'])
    expect(dht.runOp.live().map((i) => i.input)).toEqual(['o1', 'o2', 'o3'].map((id) => ({ alias: 'a', op: dhtOp(id) })))
    expect(dht.actor.getSnapshot().context.routingTableSize).toBe(2)
    expect(dht.actor.getSnapshot().hasTag('dhtReady')).toBe(true)
  })

  it('starts an operation at once when it is enqueued while ready', () => {
    const dht = readyDht()
    dht.enqueue('o1')
    expect(dht.started).toEqual(['o1'])
    expect(dht.running()).toEqual(['o1'])
    expect(dht.runOp.latest().input.op.id).toBe('o1')
  })

  it('never runs more operations than its concurrency; a settled one makes room for the next in order', () => {
    const dht = readyDht({ concurrency: 2 })
    dht.enqueue('o1', 'o2', 'o3', 'o4', 'o5')
    expect(dht.started).toEqual(['o1', 'o2'])
    expect(dht.queued()).toEqual(['o3', 'o4', 'o5'])

    dht.settle('o2')
    expect(dht.started).toEqual(['o1', 'o2', 'o3'])
    dht.settle('o1')
    dht.settle('o3')
    expect(dht.started).toEqual(['o1', 'o2', 'o3', 'o4', 'o5'])
    dht.settle('o4')
    dht.settle('o5')
    expect(dht.running()).toEqual([])
    expect(dht.runOp.live()).toEqual([])
    expect(dht.mostRunning()).toBe(2)
  })

  it('goes degraded when the bootstrap timeout passes with an empty table, and recovers when a peer connects', async () => {
    const dht = startDht({ bootstrapTimeoutMs: 3_000 })
    dht.actor.send({ type: 'dht.bootstrap' })
    dht.enqueue('o1')
    dht.clock.increment(2_999)
    expect(dht.actor.getSnapshot().value).toBe('bootstrapping')
    dht.clock.increment(1)
    expect(dht.actor.getSnapshot().value).toBe('degraded')
    expect(dht.bootstrap.calls[0]?.signal.aborted).toBe(true)
    expect(dht.started).toEqual([])
    expect(dht.queued()).toEqual(['o1'])

    // a new peer retries the bootstrap; this attempt finds the table filled
    dht.peerJoined()
    expect(dht.actor.getSnapshot().value).toBe('bootstrapping')
    expect(dht.actor.getSnapshot().context.attempts).toBe(2)
    dht.bootstrap.resolve(1)
    await waitFor(dht.actor, (s) => s.matches('ready'), { timeout: 10_000 })
    expect(dht.started).toEqual(['o1'])
  })

  it('degraded bootstraps again on its own: 5 s after the first failed attempt, doubling, at most 60 s', () => {
    const dht = startDht({ bootstrapTimeoutMs: 1_000 })
    dht.actor.send({ type: 'dht.bootstrap' })
    const value = () => dht.actor.getSnapshot().value
    const waits: number[] = []
    for (let attempt = 1; attempt <= 6; attempt++) {
      dht.clock.increment(1_000)
      expect(value()).toBe('degraded')
      let waited = 0
      while (value() === 'degraded') {
        dht.clock.increment(1_000)
        waited += 1_000
      }
      expect(value()).toBe('bootstrapping')
      expect(dht.bootstrap.calls).toHaveLength(attempt + 1)
      waits.push(waited)
    }
    expect(waits).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000])
  })

  it('ends a timed-out bootstrap in ready when the table filled meanwhile', () => {
    const dht = readyDht({ bootstrapTimeoutMs: 1_000 })
    dht.actor.send({ type: 'dht.bootstrap' })
    expect(dht.actor.getSnapshot().value).toBe('bootstrapping')
    dht.clock.increment(1_000)
    expect(dht.actor.getSnapshot().value).toBe('ready')
  })

  it('records a failed bootstrap and lets the timeout decide; ready clears the error', async () => {
    const dht = startDht({ bootstrapTimeoutMs: 1_000 })
    dht.actor.send({ type: 'dht.bootstrap' })
    dht.bootstrap.reject(new Error('no bootstrap peer answered'))
    await waitFor(dht.actor, (s) => s.context.lastError !== undefined, { timeout: 10_000 })
    expect(dht.actor.getSnapshot().value).toBe('bootstrapping')
    dht.clock.increment(1_000)
    expect(dht.actor.getSnapshot().value).toBe('degraded')
    expect(dht.actor.getSnapshot().context.lastError).toBe('no bootstrap peer answered')
    dht.table.latest().sendBack({ type: 'dht.routingTable', size: 3 })
    expect(dht.actor.getSnapshot().value).toBe('ready')
    expect(dht.actor.getSnapshot().context.lastError).toBeUndefined()
  })

  it('rejects every running and queued operation with reason stopped when stopped', () => {
    const dht = readyDht({ concurrency: 1 })
    dht.enqueue('o1', 'o2', 'o3')
    const runner = dht.runOp.latest()
    dht.actor.send({ type: 'dht.stop' })
    expect(dht.rejected).toEqual([
      { id: 'o1', reason: 'stopped' },
      { id: 'o2', reason: 'stopped' },
      { id: 'o3', reason: 'stopped' },
    ])
    expect(runner.stopped).toBe(true)
    expect(dht.actor.getSnapshot().status).toBe('done')
    expect(dht.started).toEqual(['o1'])
  })

  it('rejects queued operations when stopped before it was ever ready', () => {
    const dht = startDht()
    dht.enqueue('o1', 'o2')
    dht.actor.send({ type: 'dht.stop' })
    expect(dht.rejected).toEqual([
      { id: 'o1', reason: 'stopped' },
      { id: 'o2', reason: 'stopped' },
    ])
    expect(dht.started).toEqual([])
  })

  it('rejects an operation with reason queueFull when the queue holds queueLimit, and keeps the rest', () => {
    const dht = startDht({ queueLimit: 2 })
    const messages: string[] = []
    dht.actor.on('dht.opRejected', (e) => messages.push(e.message))
    dht.enqueue('o1', 'o2', 'o3')
    expect(dht.rejected).toEqual([{ id: 'o3', reason: 'queueFull' }])
    expect(messages[0]).toContain('2 waiting')
    expect(dht.queued()).toEqual(['o1', 'o2'])
  })

  it('counts only waiting operations against the queue limit when ready', () => {
    const dht = readyDht({ queueLimit: 1, concurrency: 1 })
    dht.enqueue('o1', 'o2', 'o3')
    expect(dht.running()).toEqual(['o1'])
    expect(dht.queued()).toEqual(['o2'])
    expect(dht.rejected).toEqual([{ id: 'o3', reason: 'queueFull' }])
  })

  it('cancels a queued operation: it is rejected and never starts', () => {
    const dht = startDht()
    dht.actor.send({ type: 'dht.bootstrap' })
    dht.enqueue('o1', 'o2')
    dht.actor.send({ type: 'dht.cancel', id: 'o1' })
    expect(dht.rejected).toEqual([{ id: 'o1', reason: 'cancelled' }])
    dht.peerJoined()
    expect(dht.started).toEqual(['o2'])
  })

  it('cancels a running operation: its runner stops and the next queued operation takes its slot', () => {
    const dht = readyDht({ concurrency: 1 })
    dht.enqueue('o1', 'o2')
    const runner = dht.runOp.latest()
    dht.actor.send({ type: 'dht.cancel', id: 'o1' })
    expect(dht.rejected).toEqual([{ id: 'o1', reason: 'cancelled' }])
    expect(runner.stopped).toBe(true)
    expect(dht.started).toEqual(['o1', 'o2'])
    expect(dht.running()).toEqual(['o2'])
  })

  it('ignores a cancel for an operation it does not hold', () => {
    const dht = readyDht()
    dht.enqueue('o1')
    dht.actor.send({ type: 'dht.cancel', id: 'nope' })
    expect(dht.rejected).toEqual([])
    expect(dht.running()).toEqual(['o1'])
  })
})
