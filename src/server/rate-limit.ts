/**
 * A token bucket: `burst` requests at once, refilled at `perSecond`. One per WebSocket connection,
 * so a flooding client gets 429s while every other client is served as usual.
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
