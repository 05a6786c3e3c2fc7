/**
 * Test-before-evict bookkeeping: once-good entries (victims) waiting for a dial that decides
 * whether they stay or give way to the newcomer parked with them. Runtime only, never saved.
 */
import type { Entry } from './entry.ts'
import type { Candidate } from './validation.ts'

export interface PendingTest {
  /** The once-good entry to dial now. */
  multiaddr: string
  peerId?: string
  /** The newcomer that replaces it if the dial fails. */
  candidate: string
  since: number
}

export interface Pending {
  victim: Entry
  candidate: Candidate
  since: number
}

export class PendingTests {
  /** Keyed by the victim's multiaddr. */
  private readonly byVictim = new Map<string, Pending>()
  private readonly candidates = new Set<string>()

  get size(): number {
    return this.byVictim.size
  }

  /** The open test of this entry (by its key), if any. */
  of(victimKey: string): Pending | undefined {
    return this.byVictim.get(victimKey)
  }

  isVictim(key: string): boolean {
    return this.byVictim.has(key)
  }

  isCandidate(key: string): boolean {
    return this.candidates.has(key)
  }

  open(victim: Entry, candidate: Candidate, now: number): void {
    this.byVictim.set(victim.multiaddr, { victim, candidate, since: now })
    this.candidates.add(candidate.key)
  }

  drop(p: Pending): void {
    this.byVictim.delete(p.victim.multiaddr)
    this.candidates.delete(p.candidate.key)
  }

  /** Lapse tests older than `timeoutMs` (in the old entry's favour) and those whose victim is gone. */
  expire(now: number, timeoutMs: number): void {
    for (const p of this.byVictim.values()) {
      if (now - p.since >= timeoutMs || p.victim.gi < 0) this.drop(p)
    }
  }

  list(): PendingTest[] {
    return [...this.byVictim.values()].map((p) => {
      const t: PendingTest = { multiaddr: p.victim.multiaddr, candidate: p.candidate.key, since: p.since }
      if (p.victim.peerId !== undefined) t.peerId = p.victim.peerId
      return t
    })
  }
}
