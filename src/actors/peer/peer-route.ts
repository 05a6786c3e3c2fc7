import type { AnyActorRef } from 'xstate'
import { shardOf, systemIds } from '../../machines/actor-ids.ts'
import type { PeerRef } from '../../machines/actor-refs.ts'
import type { NodeEvent } from '../../machines/node/node.types.ts'
import type { PeerEvent, PeerInput } from '../../machines/peer/peer.types.ts'
import type { PeersEvent } from '../../machines/peers/peers.types.ts'

type Lookup = Pick<AnyActorRef['system'], 'get'>

/**
 * Hand a libp2p-derived event to a peer's actor: straight to it when it runs, else straight to its
 * shard when that runs (which spawns it), else through the node (`peers.route`), which spawns the
 * shard first. The node only forwards to a shard that exists, so going through it costs a machine
 * step per event (and its inspection) for nothing; through the shard too when the actor exists:
 * with 100k peers that was two thirds of the cost of an event and a third of a spawn
 * (bench/peer-actors.ts). Order per peer holds: libp2p emits from I/O callbacks, when no actor is
 * mid-step (every mailbox is empty), so a routed event has been processed by the time the next one
 * looks the actor up.
 */
export function routePeerEvent(
  system: Lookup,
  sendBack: (event: NodeEvent) => void,
  input: PeerInput,
  event: PeerEvent | undefined,
  spawn: boolean,
): void {
  if (event !== undefined) {
    const ref = system.get(systemIds.peer(input.alias, input.peerId)) as PeerRef | undefined
    if (ref !== undefined) {
      ref.send(event)
      return
    }
  }
  const shard = shardRef(system, input.alias, input.peerId)
  // no actor and none to spawn: its shard would drop the event (a node without that shard spawns it, as before)
  if (shard !== undefined && !spawn) return
  const routed: PeersEvent = { type: 'peers.route', peerId: input.peerId, spawn, input, ...(event ? { event } : {}) }
  if (shard !== undefined) shard.send(routed)
  else sendBack(routed)
}

/** Stop a peer's actor (`peers.release`): straight to its shard when that runs, else through the node (which has nothing to release). */
export function releasePeer(system: Lookup, sendBack: (event: NodeEvent) => void, alias: string, peerId: string): void {
  const release: PeersEvent = { type: 'peers.release', peerId }
  const shard = shardRef(system, alias, peerId)
  if (shard !== undefined) shard.send(release)
  else sendBack(release)
}

function shardRef(system: Lookup, alias: string, peerId: string): AnyActorRef | undefined {
  return system.get(systemIds.peers(alias, shardOf(peerId)))
}
