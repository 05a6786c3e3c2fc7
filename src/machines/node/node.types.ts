import { type Static, Type } from '@sinclair/typebox'
import type { PairingInput } from '../pairing/pairing.types.ts'
import type { BackoffSettings } from '../peer/peer.types.ts'
import type { RelayLimits } from '../relay/relay.types.ts'
import type { PeersEvent } from '../peers/peers.types.ts'

export const NodeClientEventSchema = Type.Union([Type.Object({ type: Type.Literal('node.stop') })])
export type NodeClientEvent = Static<typeof NodeClientEventSchema>

export interface NodeInput {
  alias: string
  /** peer-a lives as long as the daemon; session peers as long as their connection. */
  persistent: boolean
  dhtBootstrapTimeoutMs: number
  dhtQueueLimit: number
  dhtConcurrency: number
  /** Retry settings of this node's peer actors. */
  backoff: BackoffSettings
  /** The relay server's limits; a persistent node with them runs a relay actor (session peers never relay). */
  relay?: RelayLimits
  /** The connection pruner's watermarks; without them the node runs no pruner actor. */
  pruner?: { high: number; low: number; graceMs: number }
}

export interface NodeStarted {
  peerId: string
  addrs: string[]
}

export interface NodeContext extends NodeInput {
  peerId?: string
  addrs: string[]
  connections: number
  error?: string
  /** Peer shards spawned so far (they live as long as the node). */
  peerShards: number[]
  /** Topics with a live topic actor. */
  topics: string[]
  /** Child ids of the live direct-message channel actors. */
  channels: string[]
  /** Child ids of the pairing actors that have not finished. */
  pairings: string[]
}

export type NodeEvent =
  | NodeClientEvent
  | { type: 'node.addrs'; addrs: string[] }
  | { type: 'node.connections'; count: number }
  | { type: 'node.crashed'; error: string }
  | PeersEvent
  /** Subscribe one more connection: spawns the topic actor, or retains the running one. */
  | { type: 'topics.ensure'; topic: string; meshTimeoutMs: number; reprovideMs: number }
  | { type: 'topics.release'; topic: string }
  /** A direct-message channel to `peerId` on `protocol` is needed: spawns its actor unless it runs. */
  | { type: 'channels.ensure'; peerId: string; protocol: string; idleMs: number; retryWindowMs: number }
  /** Run a pairing: spawns its actor (the pairing id is new: made by pairing.create or read from a ticket). */
  | { type: 'pairings.start'; input: PairingInput }
  /** A child reached its final state; topic actors do when they have left. */
  | { type: `xstate.done.actor.${string}`; actorId: string }
