import type { AnyMachineSnapshot, EventObject } from 'xstate'
import { relayMachine } from '../../src/machines/relay/relay.machine.ts'
import type { RelayContext, RelayEvent, RelayInput } from '../../src/machines/relay/relay.types.ts'
import { describeWorldModel, type ModelState, type WorldModelSpec } from '../support/model.ts'
import { relayAlways, relayInvariants, type RelayWorld, relayWorld } from '../support/relay-world.ts'

const input: RelayInput = {
  alias: 'a',
  limits: { maxReservations: 2, reservationTtlSeconds: 60, durationLimitSeconds: 60, dataLimitBytes: 65_536 },
}
/** Enough to tell none, one and several apart. */
const MAX = 2

const spec: WorldModelSpec<RelayWorld> = {
  machine: relayMachine,
  input,
  // the abstract states the path generator tells apart (paths only: nothing is asserted with it)
  key: (snapshot: AnyMachineSnapshot) => {
    const c = snapshot.context as RelayContext
    return JSON.stringify({ value: snapshot.value, reservations: c.reservations, circuits: c.circuits })
  },
  // what the relay server can do: a reservation taken or let go, a circuit opened or closed, the node stops
  events: ({ snapshot }: ModelState) => {
    if (snapshot.status !== 'active') return []
    const c = snapshot.context as RelayContext
    const stats = (reservations: number, circuits: number, opened: number): RelayEvent => ({
      type: 'relay.stats',
      reservations,
      circuits,
      circuitsTotal: c.circuitsTotal + opened,
    })
    const events: EventObject[] = [{ type: 'relay.stop' }]
    if (c.reservations < MAX) events.push(stats(c.reservations + 1, c.circuits, 0))
    if (c.reservations > 0) events.push(stats(c.reservations - 1, c.circuits, 0))
    if (c.circuits < MAX) events.push(stats(c.reservations, c.circuits + 1, 1))
    if (c.circuits > 0) events.push(stats(c.reservations, c.circuits - 1, 0))
    return events
  },
  bind: () => relayWorld(input),
  perform: (world, event, actor) => {
    const e = event as RelayEvent
    if (e.type === 'relay.stop') return world.stop(actor)
    if (e.type === 'relay.stats')
      return world.change({ reservations: e.reservations, circuits: e.circuits, circuitsTotal: e.circuitsTotal })
    throw new Error(`the world cannot produce ${event.type}`)
  },
  invariants: relayInvariants,
  always: relayAlways,
}

describeWorldModel('relay', spec)
