import type { Connection, Libp2p } from '@libp2p/interface'
import type { PruneRound } from '../../machines/pruner/pruner.types.ts'
import type { Watermarks } from './watermarks.ts'

export interface PrunerOptions extends Watermarks {
  /** Never closed: added and known peers. */
  isProtected(peerId: string): boolean
  /** Told after each round that closed something. */
  onPruned?(closed: Connection[], kept: { protected: number; young: number }): void
  now?: () => number
}

/** What one round decided; exported for the unit test of the ordering. */
export interface PrunePlan {
  close: Connection[]
  protectedCount: number
  young: number
  /** When the youngest spared connection leaves its grace period (epoch ms), if any was spared. */
  nextEligibleAt?: number
}

/**
 * Which connections to close to get from `connections.length` down to `low`: never a protected
 * peer's, never one younger than the grace period; among the rest the lowest-value peers first
 * (sum of peer-store tag values), then fewer streams, inbound before outbound, newest first.
 */
export function planPrune(connections: Connection[], values: Map<string, number>, opts: PrunerOptions, now: number): PrunePlan {
  const excess = connections.length - opts.low
  let protectedCount = 0
  let young = 0
  let nextEligibleAt: number | undefined
  const candidates: Connection[] = []
  for (const c of connections) {
    if (opts.isProtected(c.remotePeer.toString())) {
      protectedCount++
      continue
    }
    const matureAt = c.timeline.open + opts.graceMs
    if (matureAt > now) {
      young++
      nextEligibleAt = Math.min(nextEligibleAt ?? matureAt, matureAt)
      continue
    }
    candidates.push(c)
  }
  const value = (c: Connection) => values.get(c.remotePeer.toString()) ?? 0
  candidates.sort(
    (a, b) =>
      value(a) - value(b) ||
      a.streams.length - b.streams.length ||
      Number(a.direction === 'outbound') - Number(b.direction === 'outbound') ||
      b.timeline.open - a.timeline.open,
  )
  return {
    close: candidates.slice(0, Math.max(0, excess)),
    protectedCount,
    young,
    ...(nextEligibleAt !== undefined ? { nextEligibleAt } : {}),
  }
}

/**
 * One round of our connection pruner (js-libp2p 3 has no Protect): above the high watermark, close
 * the lowest-value unprotected connections down to the low watermark. When rounds run and how
 * they follow each other is the pruner actor's (src/machines/pruner); this is the work of one.
 */
export async function pruneRound(libp2p: Libp2p, opts: PrunerOptions): Promise<PruneRound> {
  const now = (opts.now ?? Date.now)()
  const connections = libp2p.getConnections().filter((c) => c.status === 'open')
  if (connections.length <= opts.high) return { closed: 0, protected: 0, young: 0, recheckInMs: null }
  const values = new Map<string, number>()
  for (const c of connections) {
    const id = c.remotePeer.toString()
    if (values.has(id)) continue
    const peer = await libp2p.peerStore.get(c.remotePeer).catch(() => undefined)
    values.set(
      id,
      [...(peer?.tags.values() ?? [])].reduce((sum, t) => sum + t.value, 0),
    )
  }
  const plan = planPrune(connections, values, opts, now)
  const round: PruneRound = {
    closed: plan.close.length,
    protected: plan.protectedCount,
    young: plan.young,
    // a little after the youngest matures, so it is old enough when looked at again
    recheckInMs: plan.nextEligibleAt === undefined ? null : Math.max(0, plan.nextEligibleAt - now) + 10,
  }
  if (plan.close.length === 0) return round
  await Promise.all(
    plan.close.map(async (c) => {
      try {
        await c.close({ signal: AbortSignal.timeout(1000) })
      } catch (err) {
        c.abort(err as Error)
      }
    }),
  )
  opts.onPruned?.(plan.close, { protected: plan.protectedCount, young: plan.young })
  return round
}
