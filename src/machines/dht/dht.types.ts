import { type Static, Type } from '@sinclair/typebox'

/**
 * A DHT operation as the queue holds it: plain data, so the machine stays pure and its context
 * JSON-safe. The DHT actor's `runOp` turns it into libp2p work itself; nothing else travels with it.
 */
export const DhtOpSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('provide'), Type.Literal('findProviders'), Type.Literal('findPeer')]),
  /** A CID string for provide/findProviders, a peer id for findPeer. */
  key: Type.String(),
  /** findProviders: stop after this many providers. */
  limit: Type.Optional(Type.Integer({ minimum: 1 })),
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
  /** The runner is done with an operation: its JSON-safe result, or the error's name and message. */
  | { type: 'dht.opSettled'; id: string; result?: unknown; error?: DhtOpError }
  | { type: 'dht.peerConnected'; routingTableSize: number }
  | { type: 'dht.routingTable'; size: number }
  | { type: 'dht.stop' }

/** A failed operation's error as data: the caller's queue rebuilds libp2p's error kinds from the name. */
export interface DhtOpError {
  name: string
  message: string
}

/** What the machine tells the outside world; the queue facade listens with `actor.on`, by op id. */
export type DhtEmitted =
  | { type: 'dht.opStart'; op: DhtOp }
  | { type: 'dht.opDone'; id: string; result: unknown }
  | { type: 'dht.opFailed'; id: string; error: DhtOpError }
  | { type: 'dht.opRejected'; id: string; reason: 'queueFull' | 'cancelled' | 'stopped'; message: string }
