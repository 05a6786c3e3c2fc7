import { describe, expect, it } from 'vitest'
import { runKillLoop } from '../support/kill-loop.ts'

/** CI runs 20; a soak sets KILL_LOOP_ROUNDS higher. */
const ROUNDS = Number(process.env.KILL_LOOP_ROUNDS ?? 20)

describe('kill -9 during concurrent writes', () => {
  it(
    `${ROUNDS} rounds: every write acknowledged before the kill is there after the restart, byte for byte`,
    async () => {
      const result = await runKillLoop({
        rounds: ROUNDS,
        // the first round and every tenth on every default transport (TCP, WebSockets, WebRTC-direct) on 127.0.0.1
        defaultListeners: (round) => round % 10 === 0,
      })
      expect(result.writeErrors).toEqual([])
      expect(result.lost).toEqual([])
      expect(result.orphanTemps).toBe(0)
      expect(result.rounds).toBe(ROUNDS)
      expect(result.webrtcRounds).toBe(Math.ceil(ROUNDS / 10))
      for (const n of Object.values(result.acknowledged)) expect(n).toBeGreaterThanOrEqual(3 * ROUNDS)
      // each acknowledged write is checked after every restart that follows it
      expect(result.verified.bans).toBeGreaterThanOrEqual(result.acknowledged.bans)
      expect(result.verified.knownPeers).toBeGreaterThanOrEqual(result.acknowledged.knownPeers)
      expect(result.verified.wsFiles + result.verified.httpFiles).toBeGreaterThanOrEqual(
        result.acknowledged.wsFiles + result.acknowledged.httpFiles,
      )
    },
    ROUNDS * 60_000 + 120_000,
  )
})
