/**
 * A token bucket: `burst` at once, refilled at `perSecond`. One per WebSocket connection (a flooding
 * client gets 429s while every other client is served) and one per remote peer for its direct messages.
 */
export class TokenBucket {
  #tokens: number
  #at: number

  constructor(
    readonly burst: number,
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = burst
    this.#at = now()
  }

  /** Take one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now()
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#at) / 1000) * this.perSecond)
    this.#at = t
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
