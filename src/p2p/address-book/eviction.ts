/**
 * Which entry goes when the book or a group is full, worst first: terrible entries, then entries
 * that never succeeded (lowest keep value first), then once-good ones (which the book only tests,
 * never evicts directly). Entries under test are never picked.
 */
import type { Entry, Group } from './entry.ts'
import { isTerrible, keepValueOf } from './scoring.ts'

const EVICTION_CACHE_SIZE = 32
const EVICTION_CACHE_TTL_MS = 60_000

/** 0: terrible (evict first); 1: never succeeded; 2: once succeeded (test before evicting). */
function evictionTier(e: Entry, now: number): number {
  if (isTerrible(e, now)) return 0
  return e.successes === 0 ? 1 : 2
}

export interface Ranked {
  entry: Entry
  tier: number
  value: number
}

/** Worse first: lower tier, then lower keep value, then older lastSeen. */
const worseFirst = (a: Ranked, b: Ranked) => a.tier - b.tier || a.value - b.value || a.entry.lastSeen - b.entry.lastSeen

export class EvictionRanking {
  private cache: { builtAt: number; ranked: Entry[] } | undefined

  constructor(
    private readonly entries: () => Iterable<Entry>,
    private readonly entriesOf: (group: Group) => Iterable<Entry>,
    private readonly underTest: (key: string) => boolean,
  ) {}

  /** An entry may have become worse (or is new): make it an eviction candidate too. */
  noteChanged(e: Entry): void {
    const cache = this.cache
    if (cache === undefined) return
    cache.ranked.push(e)
    if (cache.ranked.length > 4 * EVICTION_CACHE_SIZE) this.cache = undefined
  }

  /** The worst terrible entry of a group, not under test. */
  worstTerribleIn(group: Group, now: number): Entry | undefined {
    let worst: Ranked | undefined
    for (const entry of this.entriesOf(group)) {
      if (this.underTest(entry.multiaddr) || !isTerrible(entry, now)) continue
      const r: Ranked = { entry, tier: 0, value: keepValueOf(entry, now) }
      if (worst === undefined || worseFirst(r, worst) < 0) worst = r
    }
    return worst?.entry
  }

  /**
   * The worst entry not already under test. A full scan keeps the 32 worst in a cache, so a run of
   * evictions costs one scan. Entries that an attempt or a failure made worse, and new entries,
   * join the cache; successes and refreshes only make entries better; each pick re-ranks the
   * cached entries as of now. The cache is rebuilt after a minute (ageing) or when it has grown
   * to 128 candidates.
   */
  pickVictim(now: number): Ranked | undefined {
    for (let round = 0; round < 2; round++) {
      const cache = this.cache
      if (cache === undefined || now - cache.builtAt > EVICTION_CACHE_TTL_MS || cache.builtAt > now || round === 1) {
        this.cache = { builtAt: now, ranked: this.scanWorst(now) }
      }
      let best: Ranked | undefined
      for (const entry of (this.cache as { ranked: Entry[] }).ranked) {
        if (entry.gi < 0 || this.underTest(entry.multiaddr)) continue
        const r: Ranked = { entry, tier: evictionTier(entry, now), value: keepValueOf(entry, now) }
        if (best === undefined || worseFirst(r, best) < 0) best = r
      }
      if (best !== undefined) return best
    }
    return undefined
  }

  private scanWorst(now: number): Entry[] {
    const worst: Ranked[] = []
    for (const entry of this.entries()) {
      if (this.underTest(entry.multiaddr)) continue
      const r: Ranked = { entry, tier: evictionTier(entry, now), value: keepValueOf(entry, now) }
      if (worst.length === EVICTION_CACHE_SIZE) {
        if (worseFirst(r, worst[worst.length - 1] as Ranked) >= 0) continue
        worst.pop()
      }
      let i = worst.length
      while (i > 0 && worseFirst(r, worst[i - 1] as Ranked) < 0) i--
      worst.splice(i, 0, r)
    }
    return worst.map((r) => r.entry)
  }
}
