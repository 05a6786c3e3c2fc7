import { type AnyActor, fromCallback } from 'xstate'
import { relayMachine } from '../../src/machines/relay/relay.machine.ts'
import type { RelayEvent, RelayInput, RelayStats } from '../../src/machines/relay/relay.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

/**
 * What the relay actor's effects touch, faked: the relay server's reservations and open circuits
 * (as libp2p's circuit-relay service holds them), and whoever watches them. The world changes its
 * holdings and tells the watcher, as the real sampler does; nothing here reads the machine.
 */
export class RelayWorld {
  readonly clock = new WorldClock()
  readonly watchers = new Set<(event: RelayEvent) => void>()
  stats: RelayStats = { reservations: 0, circuits: 0, circuitsTotal: 0 }
  stopAsked = false
  readonly violations: string[] = []

  constructor(readonly settings: RelayInput) {}

  readonly effects = {
    watchRelay: fromCallback<RelayEvent, { alias: string }>(({ input, sendBack }) => {
      if (input.alias !== this.settings.alias) this.violations.push(`watching the relay of ${input.alias}`)
      this.watchers.add(sendBack)
      return () => this.watchers.delete(sendBack)
    }),
  }

  /** The relay server's holdings change, and the watcher reports them. */
  change(next: RelayStats): void {
    if (next.circuitsTotal < this.stats.circuitsTotal) throw new Error('circuits since start never go down')
    this.stats = next
    for (const w of this.watchers) w({ type: 'relay.stats', ...next })
  }

  stop(actor: AnyActor): void {
    this.stopAsked = true
    actor.send({ type: 'relay.stop' })
  }
}

export function relayAlways(w: RelayWorld, actor: AnyActor): void {
  check(w.violations.length === 0, w.violations.join('; '))
  check(w.watchers.size <= 1, `${w.watchers.size} watchers of one relay`)
  const c = actor.getSnapshot().context as RelayStats
  // while it watches, what a client sees is what the relay holds
  if (w.watchers.size === 1)
    check(
      c.reservations === w.stats.reservations && c.circuits === w.stats.circuits && c.circuitsTotal === w.stats.circuitsTotal,
      `the actor shows ${JSON.stringify({ reservations: c.reservations, circuits: c.circuits, circuitsTotal: c.circuitsTotal })}, the relay holds ${JSON.stringify(w.stats)}`,
    )
}

/** Per state, from the relay machine's descriptions (src/machines/catalog.ts). */
export const relayInvariants: Invariants<RelayWorld> = {
  on: (w) => check(w.watchers.size === 1 && !w.stopAsked, 'on, but nobody watches the relay or it was stopped'),
  'on.idle': (w) => check(w.stats.reservations === 0 && w.stats.circuits === 0, `idle while the relay holds ${JSON.stringify(w.stats)}`),
  'on.reserved': (w) =>
    check(w.stats.reservations > 0 && w.stats.circuits === 0, `reserved while the relay holds ${JSON.stringify(w.stats)}`),
  'on.relaying': (w) => check(w.stats.circuits > 0, `relaying with no circuit open (${JSON.stringify(w.stats)})`),
  stopped: (w) => {
    check(w.stopAsked, 'stopped, but nobody asked')
    check(w.watchers.size === 0, 'stopped and still watching the relay')
  },
}

export function relayWorld(input: RelayInput) {
  const world = new RelayWorld(input)
  return { world, machine: relayMachine.provide({ actors: world.effects }), clock: world.clock }
}
