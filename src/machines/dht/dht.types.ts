import { type Static, Type } from '@sinclair/typebox'

/** A DHT operation as the queue holds it: plain data, so the machine stays pure and its context JSON-safe. */
export const DhtOpSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('provide'), Type.Literal('findProviders'), Type.Literal('findPeer')]),
  /** A CID string for provide/findProviders, a peer id for findPeer. */
  key: Type.String(),
  enqueuedAt: Type.Number(),
})
export type DhtOp = Static<typeof DhtOpSchema>

/** Events a client may send through `actors.send`. */
export const DhtClientEventSchema = Type.Union([Type.Object({ type: Type.Literal('dht.bootstrap') })])
export type DhtClientEvent = Static<typeof DhtClientEventSchema>

export interface DhtInput {
  alias: string
  bootstrapTimeoutMs: number
  queueLimit: number
  concurrency: number
}

export interface DhtContext extends DhtInput {
  queue: DhtOp[]
  running: DhtOp[]
  routingTableSize: number
  attempts: number
  lastError?: string
}

export type DhtEvent =
  | DhtClientEvent
  | { type: 'dht.enqueue'; op: DhtOp }
  | { type: 'dht.cancel'; id: string }
  | { type: 'dht.opSettled'; id: string }
  | { type: 'dht.peerConnected'; routingTableSize: number }
  | { type: 'dht.routingTable'; size: number }
  | { type: 'dht.stop' }

/** What the machine tells the outside world; the queue facade listens with `actor.on`. */
export type DhtEmitted =
  | { type: 'dht.opStart'; op: DhtOp }
  | { type: 'dht.opRejected'; id: string; reason: 'queueFull' | 'cancelled' | 'stopped'; message: string }
