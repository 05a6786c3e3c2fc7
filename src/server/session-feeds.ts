import { systemIds } from '../machines/actor-ids.ts'
import type { ClientSession } from './client-session.ts'
import type { ServerDeps } from './method.ts'
import { peerState } from './peer-state.ts'

/**
 * The pushes every bound connection gets without asking: `peer.state` on every change of one of
 * its local peer's remote-peer actors, the `activity` feed, and `presence.update`.
 */
export function startFeeds(
  session: Pick<ClientSession, 'push'>,
  deps: Pick<ServerDeps, 'actors' | 'stores' | 'presence'>,
  alias: string,
): () => void {
  const prefix = systemIds.peerPrefix(alias)
  const stopPeers = deps.actors.registry.listen((change) => {
    if (change.type === 'snapshot' && change.snapshot.systemId.startsWith(prefix)) session.push('peer.state', peerState(change.snapshot))
  })
  const stopActivity = deps.stores.activity.listen((a) => {
    if (a.alias !== alias && a.alias !== '*') return
    const { alias: _local, ...push } = a
    session.push('activity', push)
  })
  const stopPresence = deps.presence.listen(alias, (online) => session.push('presence.update', { online }))
  return () => {
    stopPeers()
    stopActivity()
    stopPresence()
  }
}
