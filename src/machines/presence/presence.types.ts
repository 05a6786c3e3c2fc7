import { type Static, Type } from '@sinclair/typebox'

/** Events a client may send through `actors.send`: publish the current announcement now. */
export const PresenceClientEventSchema = Type.Union([Type.Object({ type: Type.Literal('presence.republish') })])
export type PresenceClientEvent = Static<typeof PresenceClientEventSchema>

export interface PresenceInput {
  alias: string
}

/** What this node announces: its nickname and how long a record of it lives. */
export interface Announcement {
  nickname: string
  ttlSeconds: number
}

/** A published record as plain data (src/p2p/presence-record.ts has its schema and signature). */
export interface PublishedRecord {
  peerId: string
  nickname: string
  multiaddrs: string[]
  createdAt: number
  expiresAt: number
}

/** The `publish` actor's output: the record and the peers GossipSub handed it to. */
export interface Published {
  record: PublishedRecord
  recipients: string[]
}

export interface PresenceContext extends PresenceInput {
  announcement: Announcement | null
  /** Announce requests (by id) waiting for the publish that answers them. */
  waiting: string[]
  /** Peers that newly subscribed to the presence topic and have not had our record yet, with tries left. */
  greet: Record<string, number>
  /** Records published since the node started. */
  published: number
  lastPublishedAt: number | null
  lastError: string | null
  /** Other peers online now (unexpired, validly signed records). */
  online: number
}

export type PresenceEvent =
  | PresenceClientEvent
  /** Announce (or change the announcement); `id` names the request the publish answers. */
  | { type: 'presence.announce'; id: string; nickname: string; ttlSeconds: number }
  /** A peer subscribed to the presence topic: it gets our record soon, without waiting for the republish. */
  | { type: 'presence.newcomer'; peerId: string }
  /** The online list changed (a record accepted or expired). */
  | { type: 'presence.online'; count: number }
  | { type: 'presence.stop' }

/** What the machine tells the façade, which answers the announce requests by id. */
export type PresenceEmitted =
  | { type: 'presence.published'; ids: string[]; record: PublishedRecord }
  | { type: 'presence.publishFailed'; ids: string[]; message: string }
