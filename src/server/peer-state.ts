import type { ActorSnapshot } from '../actors/supervisor/actor-registry.ts'
import { peerStatus } from '../machines/peer/peer.machine.ts'
import type { peerPublicContext } from '../machines/peer/peer.machine.ts'

export type PeerState = ReturnType<typeof peerPublicContext> & { status: ReturnType<typeof peerStatus> }

/** protocol.md PeerState, from a peer actor's snapshot. */
export function peerState(snapshot: ActorSnapshot): PeerState {
  return { ...(snapshot.context as ReturnType<typeof peerPublicContext>), status: peerStatus(snapshot.value) }
}
