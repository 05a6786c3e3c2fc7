import { type Static, Type } from '@sinclair/typebox'

/** Relays take nothing from clients: their state follows the peers that reserve and relay through them. */
export const RelayClientEventSchema = Type.Union([])
export type RelayClientEvent = Static<typeof RelayClientEventSchema>

/** The relay server's limits (config), carried so a client sees what a reservation gets. */
export interface RelayLimits {
  /** Reservations held at once. */
  maxReservations: number
  /** How long a reservation lasts before the peer must renew it (s). */
  reservationTtlSeconds: number
  /** Longest one relayed connection may live (s). */
  durationLimitSeconds: number
  /** Most bytes one relayed connection may carry, each way. */
  dataLimitBytes: number
}

export interface RelayInput {
  alias: string
  limits: RelayLimits
}

/** What the relay server holds right now, sampled from libp2p. */
export interface RelayStats {
  /** Peers holding a reservation (their relay addresses go through us). */
  reservations: number
  /** Relayed connections open through us now. */
  circuits: number
  /** Circuits opened since start. */
  circuitsTotal: number
}

export interface RelayContext extends RelayInput, RelayStats {}

export type RelayEvent =
  | RelayClientEvent
  | ({ type: 'relay.stats' } & RelayStats)
  /** The node stops. */
  | { type: 'relay.stop' }
