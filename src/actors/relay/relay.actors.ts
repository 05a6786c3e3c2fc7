import { RELAY_V2_STOP_CODEC } from '@libp2p/circuit-relay-v2'
import { fromCallback } from 'xstate'
import type { RelayEvent, RelayStats } from '../../machines/relay/relay.types.ts'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'

/** How often the relay's holdings are looked at; a reservation reports at once. */
export const RELAY_SAMPLE_MS = 1_000

/**
 * What the relay server holds now: its reservations, and its open circuits (each relayed connection
 * keeps one outbound STOP stream open to its target for as long as it lives). `seen` carries the
 * STOP streams met before, so circuits opened between two looks still count in the total.
 */
export function relayStats(libp2p: SwitchboardLibp2p, seen: Set<string>, before: RelayStats): RelayStats {
  let circuits = 0
  let opened = 0
  const now = new Set<string>()
  for (const connection of libp2p.getConnections()) {
    for (const stream of connection.streams) {
      if (stream.protocol !== RELAY_V2_STOP_CODEC || stream.direction !== 'outbound' || stream.status !== 'open') continue
      const key = `${connection.id}/${stream.id}`
      now.add(key)
      circuits += 1
      if (!seen.has(key)) opened += 1
    }
  }
  seen.clear()
  for (const key of now) seen.add(key)
  return { reservations: libp2p.services.relay?.reservations.size ?? 0, circuits, circuitsTotal: before.circuitsTotal + opened }
}

/** The relay machine's side effects, bound to the live runtimes. */
export function relayActors(runtimes: NodeRuntimes) {
  return {
    watchRelay: fromCallback<RelayEvent, { alias: string }>(({ input, sendBack }) => {
      const libp2p = runtimes.handle(input.alias).libp2p
      const seen = new Set<string>()
      let last: RelayStats = { reservations: 0, circuits: 0, circuitsTotal: 0 }
      const look = () => {
        const next = relayStats(libp2p, seen, last)
        if (next.reservations === last.reservations && next.circuits === last.circuits && next.circuitsTotal === last.circuitsTotal) return
        last = next
        sendBack({ type: 'relay.stats', ...next })
      }
      const timer = setInterval(look, RELAY_SAMPLE_MS)
      timer.unref()
      // a reservation is in the server's map once its event fires; a circuit shows with its stream
      const relay = libp2p.services.relay
      const onReservation = () => queueMicrotask(look)
      relay?.addEventListener('relay:reservation', onReservation)
      libp2p.addEventListener('connection:close', onReservation)
      return () => {
        clearInterval(timer)
        relay?.removeEventListener('relay:reservation', onReservation)
        libp2p.removeEventListener('connection:close', onReservation)
      }
    }),
  }
}
