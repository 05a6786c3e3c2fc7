import { type Static, Type } from '@sinclair/typebox'

/** Events a client may send through `actors.send`: ask for a look at the connection count now. */
export const PrunerClientEventSchema = Type.Union([Type.Object({ type: Type.Literal('pruner.check') })])
export type PrunerClientEvent = Static<typeof PrunerClientEventSchema>

export interface PrunerInput {
  alias: string
  /** Above this many connections a round starts... */
  high: number
  /** ...and closes down to this many. */
  low: number
  /** A connection younger than this (ms) is never closed. */
  graceMs: number
}

/** What one round did: the `pruneRound` actor's output. */
export interface PruneRound {
  closed: number
  /** Connections spared because their peer is added or known. */
  protected: number
  /** Connections spared for their youth. */
  young: number
  /** When the youngest spared connection leaves its grace period, in ms from now; null when none was spared. */
  recheckInMs: number | null
}

export interface PrunerContext extends PrunerInput {
  /** Open connections, as libp2p last reported them. */
  connections: number
  /** Connections closed since the node started. */
  pruned: number
  rounds: number
  /** A connection opened above the high watermark while a round ran: run another. */
  again: boolean
  lastRound: PruneRound | null
  lastError: string | null
}

export type PrunerEvent =
  | PrunerClientEvent
  /** libp2p opened or closed a connection; `count` is how many are open now. */
  | { type: 'pruner.connections'; count: number }
  | { type: 'pruner.stop' }
