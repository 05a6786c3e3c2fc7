import { TimeoutError } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { createActor } from 'xstate'
import { DhtOpCancelledError, enqueueDhtOp } from '../../src/actors/dht/dht-queue.ts'
import type { DhtRef } from '../../src/machines/actor-refs.ts'
import type { DhtEmitted } from '../../src/machines/dht/dht.types.ts'
import { dhtInput, fakeDht } from '../support/fakes.ts'

/** A ready DHT actor whose runners are played by the test: the world behind the queue. */
function readyDht() {
  const fakes = fakeDht()
  const actor = createActor(fakes.machine, { input: dhtInput({ concurrency: 4 }) })
  const emitted: DhtEmitted[] = []
  for (const type of ['dht.opStart', 'dht.opDone', 'dht.opFailed', 'dht.opRejected'] as const) actor.on(type, (e) => emitted.push(e))
  actor.start()
  actor.send({ type: 'dht.bootstrap' })
  fakes.table.latest().sendBack({ type: 'dht.peerConnected', routingTableSize: 1 })
  expect(actor.getSnapshot().value).toBe('ready')
  const runner = (kind: string) => fakes.runOp.latest((i) => i.input.op.kind === kind)
  return { ...fakes, actor, emitted, runner, ref: actor as unknown as DhtRef }
}

describe('DHT operations as plain data', () => {
  it('the op the runner gets is a serialisable description, and its result comes back by id', async () => {
    const dht = readyDht()
    const found = enqueueDhtOp(dht.ref, { kind: 'findProviders', key: 'bafy-key', limit: 3 })
    const run = dht.runner('findProviders')
    const op = run.input.op
    // no closure travels with it: a JSON round trip gives the same op
    expect(JSON.parse(JSON.stringify(op))).toEqual(op)
    expect(op).toMatchObject({ kind: 'findProviders', key: 'bafy-key', limit: 3 })
    expect(JSON.parse(JSON.stringify(dht.actor.getSnapshot().context.running))).toEqual([op])

    const providers = [{ peerId: 'p1', addrs: ['/ip4/127.0.0.1/tcp/1'] }]
    run.sendBack({ type: 'dht.opSettled', id: op.id, result: providers })
    expect(await found).toEqual(providers)
    expect(dht.emitted.map((e) => e.type)).toEqual(['dht.opStart', 'dht.opDone'])
    expect(dht.actor.getSnapshot().context.running).toEqual([])
  })

  it('a failed op rejects its caller with the kind libp2p threw (a timeout stays a TimeoutError)', async () => {
    const dht = readyDht()
    const lookup = enqueueDhtOp(dht.ref, { kind: 'findPeer', key: '12D3KooWpeer' })
    const run = dht.runner('findPeer')
    run.sendBack({ type: 'dht.opSettled', id: run.input.op.id, error: { name: 'TimeoutError', message: 'query timed out' } })
    const err = await lookup.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as Error).message).toBe('query timed out')
    expect(dht.emitted.at(-1)).toEqual({
      type: 'dht.opFailed',
      id: run.input.op.id,
      error: { name: 'TimeoutError', message: 'query timed out' },
    })
  })

  it('ops are told apart by id: two at once each get their own result', async () => {
    const dht = readyDht()
    const a = enqueueDhtOp(dht.ref, { kind: 'findPeer', key: 'a' })
    const b = enqueueDhtOp(dht.ref, { kind: 'provide', key: 'b' })
    const runA = dht.runner('findPeer')
    const runB = dht.runner('provide')
    runB.sendBack({ type: 'dht.opSettled', id: runB.input.op.id, result: null })
    runA.sendBack({ type: 'dht.opSettled', id: runA.input.op.id, result: { peerId: 'a', addrs: [] } })
    expect(await Promise.all([a, b])).toEqual([{ peerId: 'a', addrs: [] }, null])
  })

  it('cancelling aborts the runner and rejects the caller; a late outcome from it is not reported', async () => {
    const dht = readyDht()
    const controller = new AbortController()
    const op = enqueueDhtOp(dht.ref, { kind: 'findPeer', key: 'x' }, controller.signal)
    const run = dht.runner('findPeer')
    controller.abort(new DhtOpCancelledError('caller gave up'))
    await expect(op).rejects.toThrow('caller gave up')
    expect(run.stopped).toBe(true)
    run.sendBack({ type: 'dht.opSettled', id: run.input.op.id, result: { peerId: 'x', addrs: [] } })
    expect(dht.emitted.map((e) => e.type)).toEqual(['dht.opStart', 'dht.opRejected'])
  })
})
