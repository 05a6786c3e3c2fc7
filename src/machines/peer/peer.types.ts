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

/** How far a running sync is: blocks of the peer's directory fetched of those it has, and their bytes. */
export interface SyncProgress {
  blocksFetched: number
  blocksTotal: number
  bytes: number
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
  /** A known peer's directory should be synced once connected (it connected, was paired, or told us of a change). */
  syncDue: boolean
  /** The running sync's progress; null when none runs. */
  syncProgress: SyncProgress | null
  /** Failed syncs in a row on this connection; drives the pause before the next try. */
  syncFailures: number
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
  /** The peer told us its files changed: sync again once connected. */
  | { type: 'peer.filesChanged' }
  | { type: 'peer.syncProgress'; progress: SyncProgress }
  | { type: 'peer.syncDone'; at: number }
  | { type: 'peer.syncFailed'; error: string }
  /**
   * A peer of the same node that was unreachable (in backoff) just connected again: the network
   * that kept it away is likely back (a partition healed, a link came up), so a peer waiting in
   * backoff retries now instead of at the end of its capped delay. `localPeerId` (the node's own id)
   * lets the end with the higher id wait for the other's dial.
   */
  | { type: 'peer.networkBack'; localPeerId?: string }

export interface DialResult {
  connectionType: ConnectionType
  at: number
}
