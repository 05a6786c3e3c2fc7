import { Type } from '@sinclair/typebox'
import type { PeerId } from '../actor-ids.ts'
import type { PeerEvent, PeerInput } from '../peer/peer.types.ts'

/** Shards accept nothing from clients; they only route. */
export const PeersClientEventSchema = Type.Union([])

export interface PeersInput {
  alias: string
  shard: number
}

export interface PeersContext extends PeersInput {
  /** The peers with an actor in this shard. */
  peerIds: string[]
  /** Which peer holds each child slot (its child id is the slot number; null: free). */
  slots: (string | null)[]
}

export type PeersEvent =
  /** Deliver `event` to the peer's actor, spawning it from `input` first when `spawn` is set. */
  | {
      type: 'peers.route'
      peerId: string
      input: PeerInput
      spawn: boolean
      event?: PeerEvent
      /** The peer's systemId, when the sender built it already (its string keeps its hash for the sender's next lookup). */
      systemId?: PeerId
    }
  /** Stop the peer's actor (forgotten, or neither known nor added after it disconnected). */
  | { type: 'peers.release'; peerId: string }
  /** Deliver `event` to every peer actor of the node (each shard to its own). */
  | { type: 'peers.broadcast'; event: PeerEvent }
