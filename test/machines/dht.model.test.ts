import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { dhtMachine } from '../../src/machines/dht/dht.machine.ts'
import type { DhtContext, DhtEvent } from '../../src/machines/dht/dht.types.ts'
import { dhtAlways, dhtInvariants, dhtWorld, type DhtWorld } from '../support/dht-world.ts'
import { dhtInput, dhtOp } from '../support/fakes.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'

// one slot and one queue place: small enough to enumerate, big enough to fill the queue in every state
// a bootstrap timeout no retry delay can equal (5 s doubling), so the world tells its timers apart
const input = dhtInput({ queueLimit: 1, concurrency: 1, bootstrapTimeoutMs: 7_000 })
const OP_IDS = ['o1', 'o2', 'o3'] as const

const bootstrapId = invokeId(dhtMachine, 'bootstrap')
const bootstrapDone = (output: number) => doneEvent(bootstrapId, output)
const bootstrapError = errorEvent(bootstrapId, new Error('bootstrap peers unreachable'))

const spec: WorldModelSpec<DhtWorld> = {
  machine: dhtMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as DhtContext
    return JSON.stringify({
      value: snapshot.value,
      // operations are interchangeable: how many wait and run matters, not their names
      queued: c.queue.length,
      running: c.running.length,
      peers: c.routingTableSize > 0,
      lastError: c.lastError ?? null,
    })
  },
  // what the world can do next; a routing table with peers cannot report itself empty on a connect
  events: ({ snapshot, live, timers }: ModelState) => {
    const c = snapshot.context as DhtContext
    const present = [...c.running, ...c.queue].map((o) => o.id)
    const fresh = OP_IDS.find((id) => !present.includes(id))
    const empty = c.routingTableSize === 0
    const outside: DhtEvent[] = [
      { type: 'dht.bootstrap' },
      { type: 'dht.stop' },
      ...(empty ? [{ type: 'dht.peerConnected', routingTableSize: 0 } as const] : []),
      { type: 'dht.peerConnected', routingTableSize: 1 },
      { type: 'dht.routingTable', size: 0 },
      { type: 'dht.routingTable', size: 1 },
      ...present.map((id) => ({ type: 'dht.cancel', id }) as const),
      ...c.running.filter((o) => live.includes(`op:${o.id}`)).map((o) => ({ type: 'dht.opSettled', id: o.id }) as const),
    ]
    if (fresh) outside.push({ type: 'dht.enqueue', op: dhtOp(fresh) })
    const inside: EventObject[] = live.includes(bootstrapId) ? [...(empty ? [bootstrapDone(0)] : []), bootstrapDone(1), bootstrapError] : []
    return [...outside, ...inside, ...timers.map((type) => ({ type }))]
  },
  bind: () => dhtWorld(input),
  perform: (world, event, actor) => {
    const e = event as DhtEvent
    switch (e.type) {
      case 'dht.peerConnected':
        return world.connectPeer(e.routingTableSize > 0)
      case 'dht.routingTable':
        return world.changeTable(e.size > 0)
      case 'dht.opSettled':
        return world.finishOp(e.id)
      case 'dht.enqueue':
        world.submit(e.op)
        return actor.send(e)
      case 'dht.cancel':
        world.cancelRequested.add(e.id)
        return actor.send(e)
      case 'dht.stop':
        world.stopRequested = true
        return actor.send(e)
      case 'dht.bootstrap':
        return actor.send(e)
    }
    if (event.type === bootstrapDone(0).type && 'output' in event) return world.finishBootstrap(Number(event.output) > 0)
    if (event.type === bootstrapError.type) return world.pendingBootstrap().reject(bootstrapError.error)
    if (event.type.startsWith('xstate.after.bootstrapRetry')) return world.clock.fire(world.retryDelay())
    if (event.type.startsWith('xstate.after.')) return world.clock.fire(input.bootstrapTimeoutMs)
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: dhtInvariants,
  always: dhtAlways,
}

describeWorldModel('dht', spec)
