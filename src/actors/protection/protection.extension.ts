import type { PeerId } from '@libp2p/interface'
import type { Switchboard } from '../../switchboard.ts'
import type { NodeExtension, NodeExtensionFactory } from '../node/node-runtimes.ts'
import { ConnectionPruner } from './connection-pruner.ts'
import { isAddedPeer, isProtectedPeer, NO_PROTECTION_TAGS, PROTECTED_TAG, PROTECTION_TAGS } from './protected-peers.ts'

export interface ProtectionExtension extends NodeExtension {
  pruner: ConnectionPruner
}

/**
 * Per node: our connection pruner, and the upkeep of the protection tags. libp2p deletes a
 * keep-alive tag after its 5 reconnect tries; an added peer gets it back (our peer actor keeps
 * retrying regardless). Tags left in a persistent peer store by an earlier run are cleared at start,
 * since nothing is added yet.
 */
export function protectionExtension(sb: Switchboard): NodeExtensionFactory {
  return async (runtime, runtimes) => {
    const alias = runtime.spec.alias
    const libp2p = runtimes.handle(alias).libp2p
    const { activity } = runtimes.services
    const stale = await libp2p.peerStore.all({ filters: [(p) => p.tags.has(PROTECTED_TAG)] }).catch(() => [])
    for (const p of stale) await libp2p.peerStore.merge(p.id, { tags: NO_PROTECTION_TAGS }).catch(() => {})

    const pruner = new ConnectionPruner(libp2p, {
      high: sb.config.maxConnections,
      low: sb.config.lowWatermark,
      graceMs: sb.config.pruneGraceMs,
      isProtected: (peerId) => isProtectedPeer(sb, alias, peerId),
      onPruned: (closed, kept) =>
        activity.add({
          type: 'info',
          alias,
          message: `pruned ${closed.length} connection(s) above the high watermark ${sb.config.maxConnections}; spared ${kept.protected} protected and ${kept.young} in their grace period`,
        }),
    })
    const onReconnectFailure = (e: CustomEvent<PeerId>) => {
      if (!isAddedPeer(sb, alias, e.detail.toString())) return
      void libp2p.peerStore.merge(e.detail, { tags: PROTECTION_TAGS }).catch(() => {})
    }
    libp2p.addEventListener('peer:reconnect-failure', onReconnectFailure)
    const ext: ProtectionExtension = {
      pruner,
      stop() {
        pruner.stop()
        libp2p.removeEventListener('peer:reconnect-failure', onReconnectFailure)
      },
    }
    return ext
  }
}
