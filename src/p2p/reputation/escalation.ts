/**
 * Ban escalation: how many times each peer was banned (forgotten `forgetAfterMs` after its last
 * ban) and the TTL that count earns: `base` doubled per earlier ban, capped at `max`.
 */

export interface BanCount {
  count: number
  lastBanAt: number
}

export function escalatedTtlMs(previousBans: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** previousBans)
}

export class BanCounts {
  private readonly counts = new Map<string, BanCount>()

  constructor(readonly forgetAfterMs: number) {}

  get size(): number {
    return this.counts.size
  }

  /** Bans within the forgetting window; a forgotten count is dropped here. */
  count(peerId: string, now: number): number {
    const c = this.counts.get(peerId)
    if (c === undefined) return 0
    if (now - c.lastBanAt > this.forgetAfterMs) {
      this.counts.delete(peerId)
      return 0
    }
    return c.count
  }

  set(peerId: string, c: BanCount): void {
    this.counts.set(peerId, c)
  }

  /** The counts still remembered at `now`, for saving. */
  live(now: number): Array<{ peerId: string } & BanCount> {
    return [...this.counts]
      .filter(([, c]) => now - c.lastBanAt <= this.forgetAfterMs)
      .map(([peerId, c]) => ({ peerId, count: c.count, lastBanAt: c.lastBanAt }))
  }

  /** Keep at most `max` counts, dropping the oldest bans first. */
  bound(max: number): void {
    if (this.counts.size <= max) return
    const oldest = [...this.counts].sort((a, b) => a[1].lastBanAt - b[1].lastBanAt)
    for (const [id] of oldest.slice(0, this.counts.size - max)) this.counts.delete(id)
  }
}
