import type { PruneRound, PrunerEvent, PrunerInput } from '../../machines/pruner/pruner.types.ts'
import type { PrunerRef } from '../../machines/actor-refs.ts'
import type { ActivityLog } from '../activity-log.ts'
import type { NodeComponents, NodeService } from '../node/node-runtimes.ts'
import { pruneRound } from './connection-pruner.ts'
import { NO_PROTECTION_TAGS, PROTECTED_TAG } from './protected-peers.ts'

export interface ProtectionDeps {
  /** Added or known peers: never pruned. */
  isProtected(alias: string, peerId: string): boolean
  activity: Pick<ActivityLog, 'add'>
  /** The node's pruner actor (`pruner:<alias>`), spawned by the node machine once it runs. */
  actor: (alias: string) => PrunerRef | undefined
}

/**
 * Per node: the world of the pruner actor (src/machines/pruner: idle / pruning / grace), which owns
 * when rounds run, and a façade over it. Tags left in a persistent peer store by an earlier run are
 * cleared at start, since nothing is added yet. Redialling an added peer is the peer actor's job
 * alone: libp2p's reconnect queue is off (src/p2p/node-factory.ts), so nothing here re-tags peers.
 */
export class ProtectionService implements NodeService {
  constructor(
    readonly alias: string,
    private readonly libp2p: NodeComponents['libp2p'],
    private readonly deps: ProtectionDeps,
  ) {}

  /** Nothing of its own to stop: the listeners and the grace timer end with the pruner actor. */
  stop(): void {}

  /** What the pruner actor has done so far (the same numbers as its `actors.list` context). */
  get pruner(): { readonly pruned: number; readonly rounds: number } {
    const context = this.deps.actor(this.alias)?.getSnapshot().context
    return { pruned: context?.pruned ?? 0, rounds: context?.rounds ?? 0 }
  }

  /** The `pruneRound` effect: one round over the live connections, reported in the activity log. */
  round(watermarks: PrunerInput): Promise<PruneRound> {
    const { alias } = this
    return pruneRound(this.libp2p, {
      ...watermarks,
      isProtected: (peerId) => this.deps.isProtected(alias, peerId),
      onPruned: (closed, kept) =>
        this.deps.activity.add({
          type: 'info',
          alias,
          message: `pruned ${closed.length} connection(s) above the high watermark ${watermarks.high}; spared ${kept.protected} protected and ${kept.young} in their grace period`,
        }),
    })
  }

  /** The `watchConnections` effect: the open-connection count, now and on every change. */
  watch(sendBack: (event: PrunerEvent) => void): () => void {
    const report = () => sendBack({ type: 'pruner.connections', count: this.libp2p.getConnections().length })
    this.libp2p.addEventListener('connection:open', report)
    this.libp2p.addEventListener('connection:close', report)
    report()
    return () => {
      this.libp2p.removeEventListener('connection:open', report)
      this.libp2p.removeEventListener('connection:close', report)
    }
  }
}

export const protectionService =
  (deps: ProtectionDeps) =>
  async ({ alias, libp2p }: Pick<NodeComponents, 'alias' | 'libp2p'>): Promise<ProtectionService> => {
    const stale = await libp2p.peerStore.all({ filters: [(p) => p.tags.has(PROTECTED_TAG)] }).catch(() => [])
    for (const p of stale) await libp2p.peerStore.merge(p.id, { tags: NO_PROTECTION_TAGS }).catch(() => {})
    return new ProtectionService(alias, libp2p, deps)
  }
