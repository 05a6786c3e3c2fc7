import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { dhtMachine } from '../../src/machines/dht/dht.machine.ts'
import type { DhtContext, DhtEvent } from '../../src/machines/dht/dht.types.ts'
import { dhtInput, dhtOp, fakeDht } from '../support/fakes.ts'
import {
  describeModel,
  doneEvent,
  errorEvent,
  type Harness,
  invokeId,
  type ModelSpec,
  type ModelState,
  startProbed,
} from '../support/model.ts'

// one slot and one queue place: small enough to enumerate, big enough to fill the queue in every state
const input = dhtInput({ queueLimit: 1, concurrency: 1 })
const OP_IDS = ['o1', 'o2', 'o3'] as const

const bootstrapId = invokeId(dhtMachine, 'bootstrap')
const bootstrapDone = (output: number) => doneEvent(bootstrapId, output)
const bootstrapError = errorEvent(bootstrapId, new Error('bootstrap peers unreachable'))

const spec: ModelSpec = {
  machine: dhtMachine,
  input,
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as DhtContext
    return JSON.stringify({
      value: snapshot.value,
      queue: c.queue.map((o) => o.id),
      running: c.running.map((o) => o.id),
      peers: c.routingTableSize > 0,
      lastError: c.lastError ?? null,
    })
  },
  events: ({ snapshot, live, timers }: ModelState) => {
    const c = snapshot.context as DhtContext
    const present = [...c.running, ...c.queue].map((o) => o.id)
    const fresh = OP_IDS.find((id) => !present.includes(id))
    const outside: DhtEvent[] = [
      { type: 'dht.bootstrap' },
      { type: 'dht.stop' },
      { type: 'dht.peerConnected', routingTableSize: 0 },
      { type: 'dht.peerConnected', routingTableSize: 1 },
      { type: 'dht.routingTable', size: 0 },
      { type: 'dht.routingTable', size: 1 },
      ...present.map((id) => ({ type: 'dht.cancel', id }) as const),
      // a runner reports back only while it runs
      ...c.running.filter((o) => live.includes(`op:${o.id}`)).map((o) => ({ type: 'dht.opSettled', id: o.id }) as const),
    ]
    if (fresh) outside.push({ type: 'dht.enqueue', op: dhtOp(fresh) })
    // the bootstrap settles once per attempt; a timer fires only while armed
    const inside: EventObject[] = live.includes(bootstrapId) ? [bootstrapDone(0), bootstrapDone(1), bootstrapError] : []
    return [...outside, ...inside, ...timers.map((type) => ({ type }))]
  },
}

function harness(): Harness {
  const { machine, bootstrap, table, runOp } = fakeDht()
  const { actor, probe, emitted, clock } = startProbed(machine, input)
  return {
    actor,
    probe,
    emitted,
    perform: (event) => {
      const e = event as DhtEvent
      switch (e.type) {
        case 'dht.peerConnected':
        case 'dht.routingTable':
          return table.latest().sendBack(e)
        case 'dht.opSettled':
          return runOp.latest((i) => i.input.op.id === e.id).sendBack(e)
        case 'dht.bootstrap':
        case 'dht.enqueue':
        case 'dht.cancel':
        case 'dht.stop':
          return actor.send(e)
      }
      if (event.type === bootstrapDone(0).type && 'output' in event) return bootstrap.resolve(Number(event.output))
      if (event.type === bootstrapError.type) return bootstrap.reject(bootstrapError.error)
      if (event.type.startsWith('xstate.after.')) return clock.increment(input.bootstrapTimeoutMs)
      throw new Error(`the harness cannot produce ${event.type}`)
    },
  }
}

describeModel('dht', spec, harness)
