import { type Static, Type } from '@sinclair/typebox'

export const ConnectionTypeSchema = Type.Union([
  Type.Literal('direct'),
  Type.Literal('relay'),
  Type.Literal('webrtc'),
  Type.Literal('none'),
])
export type ConnectionType = Static<typeof ConnectionTypeSchema>

/** Events a client may send through `actors.send`. */
export const PeerClientEventSchema = Type.Union([
  Type.Object({ type: Type.Literal('peer.connect'), tries: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }),
  Type.Object({ type: Type.Literal('peer.disconnect') }),
])
export type PeerClientEvent = Static<typeof PeerClientEventSchema>

export interface BackoffSettings {
  /** First automatic retry, before jitter (ms). */
  initialMs: number
  /** Cap on the automatic retry delay (ms). */
  maxMs: number
  /** Delay between the tries of an explicit connect (ms). */
  explicitRetryMs: number
  /** Tries of an explicit connect before it fails. */
  explicitTries: number
}

export interface PeerInput {
  alias: string
  peerId: string
  name?: string
  known?: boolean
  autoConnect?: boolean
  addedAt?: number
  ticket?: string
  lastSyncAt?: number
  backoff: BackoffSettings
}

export interface PeerContext {
  alias: string
  peerId: string
  name: string
  ticket: string | null
  addedAt: number | null
  lastSyncAt: number | null
  /** Paired or otherwise remembered on disk. */
  known: boolean
  /** Reconnect on its own while known (with `wanted` as the other reason). */
  autoConnect: boolean
  /** Added with `addpeers`: protected and retried for as long as it stays added. */
  added: boolean
  /** A client asked to disconnect: no automatic reconnect until the next connect. */
  held: boolean
  connectionType: ConnectionType
  lastError: string | null
  /** Failed dials since the last success; drives the backoff. */
  failures: number
  /** Tries left of the explicit connect in progress (0 when none). */
  triesLeft: number
  /** Logical time of the last state change, set by the actor that reports it. */
  since: number
  backoff: BackoffSettings
}

export type PeerEvent =
  | PeerClientEvent
  | { type: 'peer.connected'; connectionType: ConnectionType; at: number }
  | { type: 'peer.connectionType'; connectionType: ConnectionType }
  | { type: 'peer.disconnected'; at: number }
  /** `at` dates `addedAt` when the update makes the peer known for the first time. */
  | { type: 'peer.update'; name?: string; autoConnect?: boolean; known?: boolean; ticket?: string; at?: number }
  | { type: 'peer.setAdded'; added: boolean }
  | { type: 'peer.syncStarted' }
  | { type: 'peer.syncFinished'; at: number }

export interface DialResult {
  connectionType: ConnectionType
  at: number
}
