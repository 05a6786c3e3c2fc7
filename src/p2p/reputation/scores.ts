/**
 * Per-peer scores in [-100, 100] that decay toward 0 (half-life), computed lazily from the time of
 * the last change. Runtime only; bounded to `maxPeers`, dropping the peers nearest 0 first.
 */

/** Local failures alone never take a score below this. */
export const LOCAL_FAILURE_FLOOR = -49

export interface PeerScore {
  value: number
  at: number
  failures: number
  violations: number
}

export class ScoreTable {
  private readonly scores = new Map<string, PeerScore>()

  constructor(
    private readonly halfLifeMs: number,
    private readonly maxPeers: number,
    /** Peers never pruned (those with a ban record, so a ban keeps its score). */
    private readonly protectedPeer: (peerId: string) => boolean,
  ) {}

  get(peerId: string): PeerScore | undefined {
    return this.scores.get(peerId)
  }

  peerIds(): IterableIterator<string> {
    return this.scores.keys()
  }

  /** The score as of `now` (0 for an unknown peer). */
  valueAt(peerId: string, now: number): number {
    const s = this.scores.get(peerId)
    return s === undefined ? 0 : this.decayed(s, now)
  }

  decayed(s: PeerScore, now: number): number {
    const dt = Math.max(0, now - s.at)
    return s.value * 0.5 ** (dt / this.halfLifeMs)
  }

  /** The peer's record with its value brought up to `now`, created when absent. */
  touch(peerId: string, now: number): PeerScore {
    let s = this.scores.get(peerId)
    if (s === undefined) {
      s = { value: 0, at: now, failures: 0, violations: 0 }
      this.scores.set(peerId, s)
      if (this.scores.size > this.maxPeers) this.prune(now, peerId)
    } else {
      s.value = this.decayed(s, now)
      s.at = now
    }
    return s
  }

  /** Our own failure: costs at most `cost` and never goes below LOCAL_FAILURE_FLOOR (a lower score is left as it is). */
  localFailure(peerId: string, now: number, cost: number): number {
    const s = this.touch(peerId, now)
    s.failures++
    if (s.value > LOCAL_FAILURE_FLOOR) s.value = Math.max(LOCAL_FAILURE_FLOOR, s.value - cost)
    return s.value
  }

  violation(peerId: string, now: number, cost: number): number {
    const s = this.touch(peerId, now)
    s.violations++
    s.value = Math.max(-100, s.value - cost)
    return s.value
  }

  reward(peerId: string, now: number, n: number): number {
    const s = this.touch(peerId, now)
    s.value = Math.min(100, s.value + n)
    return s.value
  }

  /** Back to 0 (a lifted ban); an unknown peer stays unknown. */
  reset(peerId: string, now: number): void {
    const s = this.scores.get(peerId)
    if (s !== undefined) {
      s.value = 0
      s.at = now
    }
  }

  /** Drop the scored peers nearest 0 (never `keep` or a protected one) down to 90% of maxPeers. */
  private prune(now: number, keep: string): void {
    const target = Math.floor(this.maxPeers * 0.9)
    const ranked = [...this.scores]
      .filter(([id]) => id !== keep && !this.protectedPeer(id))
      .map(([id, s]) => ({ id, mag: Math.abs(this.decayed(s, now)) }))
      .sort((a, b) => a.mag - b.mag)
    for (const { id } of ranked) {
      if (this.scores.size <= target) break
      this.scores.delete(id)
    }
  }
}
