/** How good an entry is: quality, keep value (eviction), chance (selection) and terrible-ness. Pure functions of an entry's counters. */

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const RECENT_ATTEMPT_MS = 10 * MINUTE
const TERRIBLE_UNSEEN_MS = 30 * DAY
const TERRIBLE_ATTEMPTS = 3
const TERRIBLE_FAILURES = 10
const TERRIBLE_FAILURE_WINDOW_MS = 7 * DAY
const RECENCY_HALF_LIFE_MS = 7 * DAY

/** (successes + 1) / (successes + failures + 2). */
export function qualityOf(e: { successes: number; failures: number }): number {
  return (e.successes + 1) / (e.successes + e.failures + 2)
}

/** How much an entry is worth keeping: quality x recency of lastSeen x 0.66 per failure since the last success (up to 8). */
export function keepValueOf(
  e: { successes: number; failures: number; lastSeen: number; consecutiveFailures: number },
  now: number,
): number {
  const age = Math.max(0, now - e.lastSeen)
  const recency = Math.max(0.1, 0.5 ** (age / RECENCY_HALF_LIFE_MS))
  return qualityOf(e) * recency * 0.66 ** Math.min(e.consecutiveFailures, 8)
}

/** Selection weight: keep value, x0.01 when tried in the last 10 minutes. */
export function chanceOf(
  e: { successes: number; failures: number; lastSeen: number; consecutiveFailures: number; lastAttempt?: number | undefined },
  now: number,
): number {
  const recent = e.lastAttempt !== undefined && now - e.lastAttempt < RECENT_ATTEMPT_MS
  return keepValueOf(e, now) * (recent ? 0.01 : 1)
}

/** Terrible: not seen for 30 days, or 3+ attempts and never a success, or 10+ failures in the last 7 days. */
export function isTerrible(
  e: { lastSeen: number; attempts: number; successes: number; failureTimes: readonly number[] },
  now: number,
): boolean {
  if (now - e.lastSeen > TERRIBLE_UNSEEN_MS) return true
  if (e.attempts >= TERRIBLE_ATTEMPTS && e.successes === 0) return true
  let recent = 0
  for (const t of e.failureTimes) if (now - t <= TERRIBLE_FAILURE_WINDOW_MS) recent++
  return recent >= TERRIBLE_FAILURES
}
