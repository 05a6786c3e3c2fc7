import type { AnyActorRef } from 'xstate'
import { systemIds } from '../../machines/actor-ids.ts'
import type { PeerRef } from '../../machines/actor-refs.ts'
import type { NodeEvent } from '../../machines/node/node.types.ts'
import type { PeerEvent, PeerInput } from '../../machines/peer/peer.types.ts'

/**
 * Hand a libp2p-derived event to a peer's actor: straight to it when it runs, else through the node
 * (`peers.route`), which spawns it in its shard. Going through the node and the shard costs two
 * more machine steps per event (and their inspection) for nothing when the actor exists: with
 * 100k peers that was two thirds of the cost of an event (bench/peer-actors.ts). Order per peer
 * holds: libp2p emits from I/O callbacks, when no actor is mid-step, so a routed event has been
 * processed by the time the next one looks the actor up.
 */
export function routePeerEvent(
  system: Pick<AnyActorRef['system'], 'get'>,
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
  sendBack({ type: 'peers.route', peerId: input.peerId, spawn, input, ...(event ? { event } : {}) })
}
