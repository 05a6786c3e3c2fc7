import type { RegistryChange } from '../actors/supervisor/actor-registry.ts'
import { parseSystemId, systemIds } from '../machines/actor-ids.ts'
import { pairingStateName } from '../machines/pairing/pairing.machine.ts'
import type { pairingPublicContext } from '../machines/pairing/pairing.machine.ts'
import type { ClientSession } from './client-session.ts'
import type { ServerDeps } from './method.ts'
import { peerState } from './peer-state.ts'

/**
 * The pushes every bound connection gets without asking: `peer.state` on every change of one of
 * its local peer's remote-peer actors, `pairing.state` on every step of one of its pairings (with the
 * peer once paired), the `activity` feed, and `presence.update`.
 */
export function startFeeds(
  session: Pick<ClientSession, 'push'>,
  deps: Pick<ServerDeps, 'actors' | 'stores' | 'presence'>,
  alias: string,
): () => void {
  const prefix = systemIds.peerPrefix(alias)
  // the registry builds views only for actors some listener's prefix covers: this node's peers and pairings
  const onChange = (change: RegistryChange) => {
    if (change.type !== 'snapshot') return
    const { snapshot } = change
    if (snapshot.systemId.startsWith(prefix)) {
      session.push('peer.state', peerState(snapshot))
      return
    }
    const id = parseSystemId(snapshot.systemId)
    if (id?.kind !== 'pairing' || id.alias !== alias) return
    const c = snapshot.context as ReturnType<typeof pairingPublicContext>
    const state = pairingStateName(snapshot.value)
    const peer = state === 'paired' && c.peerId ? deps.actors.registry.get(systemIds.peer(alias, c.peerId)) : undefined
    session.push('pairing.state', {
      pairingId: c.pairingId,
      state,
      role: c.role,
      peerId: c.peerId,
      peerName: c.peerName,
      error: c.error,
      ...(peer ? { peer: peerState(peer) } : {}),
    })
  }
  const stopPeerViews = deps.actors.registry.listen(onChange, prefix)
  const stopPairingViews = deps.actors.registry.listen(onChange, systemIds.pairing(alias, ''))
  const stopActivity = deps.stores.activity.listen((a) => {
    if (a.alias !== alias && a.alias !== '*') return
    const { alias: _local, ...push } = a
    session.push('activity', push)
  })
  const stopPresence = deps.presence.listen(alias, (online) => session.push('presence.update', { online }))
  return () => {
    stopPeerViews()
    stopPairingViews()
    stopActivity()
    stopPresence()
  }
}
