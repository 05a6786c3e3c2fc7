import { type Static, Type } from '@sinclair/typebox'

/** Topic actors take nothing from clients directly: subscribe and unsubscribe go through the p2p-webapp calls. */
export const TopicClientEventSchema = Type.Union([])
export type TopicClientEvent = Static<typeof TopicClientEventSchema>

export interface TopicInput {
  alias: string
  topic: string
  /** How long meshForming waits for a first topic peer before it counts as joined anyway. */
  meshTimeoutMs: number
  /** How often the topic's DHT provider record is renewed (before kad's expiry). */
  reprovideMs: number
}

export interface TopicContext extends TopicInput {
  /** Connections subscribed through this actor; it leaves when the last one goes. */
  refs: number
  /** Peers known to be subscribed to the topic, from GossipSub's subscription events. */
  peers: string[]
  meshTimedOut: boolean
  lastError: string | null
}

export type TopicEvent =
  | { type: 'topic.retain' }
  | { type: 'topic.release' }
  | { type: 'topic.peerJoined'; peerId: string }
  | { type: 'topic.peerLeft'; peerId: string }

export type TopicEmitted = { type: 'topic.peerChange'; topic: string; peerId: string; joined: boolean }
