import type { ActorSnapshot } from '../actors/supervisor/actor-registry.ts'
import { type PeerStatus, peerStatusOfTags } from '../machines/peer/peer.machine.ts'
import type { peerPublicContext } from '../machines/peer/peer.machine.ts'

export type PeerState = ReturnType<typeof peerPublicContext> & { status: PeerStatus }

/**
 * protocol.md PeerState, from a peer actor's snapshot. The status is the `status:<name>` tag of the
 * state the actor is in (the machine says which status each state shows), never a remap of the value.
 */
export function peerState(snapshot: ActorSnapshot): PeerState {
  return { ...(snapshot.context as ReturnType<typeof peerPublicContext>), status: peerStatusOfTags(snapshot.tags) }
}
