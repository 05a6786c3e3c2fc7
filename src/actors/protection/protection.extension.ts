import type { PeerId } from '@libp2p/interface'
import type { ActivityLog } from '../activity-log.ts'
import type { NodeComponents, NodeService } from '../node/node-runtimes.ts'
import { ConnectionPruner } from './connection-pruner.ts'
import { NO_PROTECTION_TAGS, PROTECTED_TAG, PROTECTION_TAGS } from './protected-peers.ts'

export interface ProtectionDeps {
  /** The pruner's watermarks and the grace period of a new connection (ms). */
  high: number
  low: number
  graceMs: number
  /** Added or known peers: never pruned. */
  isProtected(alias: string, peerId: string): boolean
  /** Added peers: their keep-alive tag comes back when libp2p gives up on them. */
  isAdded(alias: string, peerId: string): boolean
  activity: Pick<ActivityLog, 'add'>
}

export interface ProtectionService extends NodeService {
  pruner: ConnectionPruner
}

/**
 * Per node: our connection pruner, and the upkeep of the protection tags. libp2p deletes a
 * keep-alive tag after its 5 reconnect tries; an added peer gets it back (our peer actor keeps
 * retrying regardless). Tags left in a persistent peer store by an earlier run are cleared at start,
 * since nothing is added yet.
 */
export const protectionService =
  (deps: ProtectionDeps) =>
  async ({ alias, libp2p }: Pick<NodeComponents, 'alias' | 'libp2p'>): Promise<ProtectionService> => {
    const stale = await libp2p.peerStore.all({ filters: [(p) => p.tags.has(PROTECTED_TAG)] }).catch(() => [])
    for (const p of stale) await libp2p.peerStore.merge(p.id, { tags: NO_PROTECTION_TAGS }).catch(() => {})

    const pruner = new ConnectionPruner(libp2p, {
      high: deps.high,
      low: deps.low,
      graceMs: deps.graceMs,
      isProtected: (peerId) => deps.isProtected(alias, peerId),
      onPruned: (closed, kept) =>
        deps.activity.add({
          type: 'info',
          alias,
          message: `pruned ${closed.length} connection(s) above the high watermark ${deps.high}; spared ${kept.protected} protected and ${kept.young} in their grace period`,
        }),
    })
    const onReconnectFailure = (e: CustomEvent<PeerId>) => {
      if (!deps.isAdded(alias, e.detail.toString())) return
      void libp2p.peerStore.merge(e.detail, { tags: PROTECTION_TAGS }).catch(() => {})
    }
    libp2p.addEventListener('peer:reconnect-failure', onReconnectFailure)
    return {
      pruner,
      stop() {
        pruner.stop()
        libp2p.removeEventListener('peer:reconnect-failure', onReconnectFailure)
      },
    }
  }
