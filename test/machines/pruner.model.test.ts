import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { prunerMachine } from '../../src/machines/pruner/pruner.machine.ts'
import type { PruneRound, PrunerContext, PrunerEvent, PrunerInput } from '../../src/machines/pruner/pruner.types.ts'
import { describeWorldModel, doneEvent, errorEvent, invokeId, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { prunerAlways, prunerInvariants, type PrunerWorld, prunerWorld } from '../support/pruner-world.ts'

const input: PrunerInput = { alias: 'a', high: 3, low: 2, graceMs: 1_000 }
// two above the high watermark: a close above it is still above it
const MAX_CONNECTIONS = 5

const roundId = invokeId(prunerMachine, 'pruneRound')
const round = (spared: boolean) =>
  doneEvent<PruneRound>(roundId, { closed: 0, protected: 0, young: 0, recheckInMs: spared ? input.graceMs : null })
const roundFailed = errorEvent(roundId, new Error('peer store closed'))

const spec: WorldModelSpec<PrunerWorld> = {
  machine: prunerMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as PrunerContext
    return JSON.stringify({ value: snapshot.value, connections: c.connections, again: c.again, failed: c.lastError !== null })
  },
  events: ({ snapshot, live, timers }: ModelState) => {
    const c = snapshot.context as PrunerContext
    const events: (PrunerEvent | EventObject)[] = [{ type: 'pruner.check' }, { type: 'pruner.stop' }]
    if (c.connections < MAX_CONNECTIONS) events.push({ type: 'pruner.connections', count: c.connections + 1 })
    if (c.connections > 0) events.push({ type: 'pruner.connections', count: c.connections - 1 })
    if (live.includes(roundId)) {
      // a round reports once it closed what it could: down to the low watermark, or sparing the young
      events.push(round(c.connections > input.low), roundFailed)
    }
    return [...events, ...timers.map((type) => ({ type }))]
  },
  bind: () => prunerWorld(input),
  perform: (world, event, actor) => {
    const e = event as PrunerEvent
    switch (e.type) {
      case 'pruner.connections':
        return e.count > world.count() ? world.connect(e.count) : world.disconnect(e.count)
      case 'pruner.check':
        return world.check(actor)
      case 'pruner.stop':
        return world.stop(actor)
    }
    if (event.type === roundFailed.type) return world.failRound(roundFailed.error)
    if (event.type === round(false).type) return world.finishRound((event as unknown as { output: PruneRound }).output.recheckInMs !== null)
    if (event.type.startsWith('xstate.after.')) return world.clock.fire(input.graceMs)
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: prunerInvariants,
  always: prunerAlways,
}

describeWorldModel('pruner', spec)
