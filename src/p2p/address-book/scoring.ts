/** How good an entry is: quality, keep value (eviction), chance (selection) and terrible-ness. Pure functions of an entry's counters. */

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
const RECENT_ATTEMPT_MS = 10 * MINUTE
const TERRIBLE_UNSEEN_MS = 30 * DAY
const TERRIBLE_ATTEMPTS = 3
const TERRIBLE_FAILURES = 10
const TERRIBLE_FAILURE_WINDOW_MS = 7 * DAY
const RECENCY_HALF_LIFE_MS = 7 * DAY

/** 0.66^k for k = 0..8, computed once by the same power the scores used to compute each time. */
const FAILURE_FACTORS: readonly number[] = Array.from({ length: 9 }, (_, k) => 0.66 ** k)

/** 0.66 per failure since the last success, up to 8. */
function failureFactor(consecutiveFailures: number): number {
  return FAILURE_FACTORS[consecutiveFailures] ?? 0.66 ** Math.min(consecutiveFailures, 8)
}

/** (successes + 1) / (successes + failures + 2). */
export function qualityOf(e: { successes: number; failures: number }): number {
  return qualityFrom(e.successes, e.failures)
}

/** qualityOf from the two counts (a loaded slot's, columns.ts). */
export function qualityFrom(successes: number, failures: number): number {
  return (successes + 1) / (successes + failures + 2)
}

/** How much an entry is worth keeping: quality x recency of lastSeen x 0.66 per failure since the last success (up to 8). */
export function keepValueOf(
  e: { successes: number; failures: number; lastSeen: number; consecutiveFailures: number },
  now: number,
): number {
  const age = Math.max(0, now - e.lastSeen)
  const recency = Math.max(0.1, 0.5 ** (age / RECENCY_HALF_LIFE_MS))
  return qualityOf(e) * recency * failureFactor(e.consecutiveFailures)
}

/** Selection weight: keep value, x0.01 when tried in the last 10 minutes. */
export function chanceOf(
  e: { successes: number; failures: number; lastSeen: number; consecutiveFailures: number; lastAttempt?: number | undefined },
  now: number,
): number {
  return chanceFrom(qualityOf(e), e.lastSeen, e.lastAttempt ?? Number.NaN, e.consecutiveFailures, now)
}

/**
 * chanceOf from the fields it reads (a draw record, see draw-records.ts): `lastAttempt` is NaN
 * when there was none. The same arithmetic in the same order as keepValueOf x the recent-attempt factor,
 * so both give the same number to the last bit.
 */
export function chanceFrom(quality: number, lastSeen: number, lastAttempt: number, consecutiveFailures: number, now: number): number {
  const age = Math.max(0, now - lastSeen)
  const recency = Math.max(0.1, 0.5 ** (age / RECENCY_HALF_LIFE_MS))
  const recent = now - lastAttempt < RECENT_ATTEMPT_MS // false for NaN
  return quality * recency * failureFactor(consecutiveFailures) * (recent ? 0.01 : 1)
}

/**
 * An upper bound of chanceFrom with the same arguments but lastSeen, exact in floating point (recency
 * is at most 1, and rounding is monotonic): a draw whose random number is at or above it is rejected
 * without lastSeen (which a draw record does not hold) and its power.
 */
export function chanceCeiling(quality: number, lastAttempt: number, consecutiveFailures: number, now: number): number {
  return quality * failureFactor(consecutiveFailures) * (now - lastAttempt < RECENT_ATTEMPT_MS ? 0.01 : 1)
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
