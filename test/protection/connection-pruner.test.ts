import type { Connection } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { planPrune, type PrunerOptions } from '../../src/actors/protection/connection-pruner.ts'
import { libp2pMaxConnections } from '../../src/actors/protection/watermarks.ts'

const NOW = 1_000_000

function conn(peer: string, opts: { openedAgo?: number; streams?: number; direction?: 'inbound' | 'outbound' } = {}): Connection {
  return {
    remotePeer: { toString: () => peer },
    timeline: { open: NOW - (opts.openedAgo ?? 60_000) },
    streams: Array.from({ length: opts.streams ?? 0 }),
    direction: opts.direction ?? 'inbound',
  } as unknown as Connection
}

const options = (o: Partial<PrunerOptions> = {}): PrunerOptions => ({ high: 3, low: 2, graceMs: 10_000, isProtected: () => false, ...o })
const peersOf = (plan: { close: Connection[] }) => plan.close.map((c) => c.remotePeer.toString())

describe('planPrune', () => {
  it('closes down to the low watermark, lowest tag value first', () => {
    const connections = [conn('a'), conn('b'), conn('c'), conn('d'), conn('e')]
    const values = new Map([
      ['a', 300],
      ['b', 0],
      ['c', 50],
      ['d', 200],
      ['e', 10],
    ])
    expect(peersOf(planPrune(connections, values, options(), NOW))).toEqual(['b', 'e', 'c'])
  })

  it('never closes a protected peer, even the lowest valued, nor goes below the protected ones', () => {
    const connections = [conn('p1'), conn('p2'), conn('x'), conn('y')]
    const plan = planPrune(
      connections,
      new Map([
        ['x', 100],
        ['y', 90],
      ]),
      options({ low: 0, isProtected: (id) => id.startsWith('p') }),
      NOW,
    )
    expect(peersOf(plan)).toEqual(['y', 'x'])
    expect(plan.protectedCount).toBe(2)
  })

  it('spares connections in their grace period and says when the first of them matures', () => {
    const connections = [
      conn('old'),
      conn('young1', { openedAgo: 2_000 }),
      conn('young2', { openedAgo: 5_000 }),
      conn('older', { openedAgo: 20_000 }),
    ]
    const plan = planPrune(connections, new Map(), options({ low: 0 }), NOW)
    expect(peersOf(plan).sort()).toEqual(['old', 'older'])
    expect(plan.young).toBe(2)
    expect(plan.nextEligibleAt).toBe(NOW - 5_000 + 10_000)
  })

  it('at equal value: fewer streams first, then inbound before outbound, then the newest', () => {
    const connections = [
      conn('busy', { streams: 3 }),
      conn('out', { direction: 'outbound' }),
      conn('in-old', { openedAgo: 90_000 }),
      conn('in-new', { openedAgo: 30_000 }),
    ]
    expect(peersOf(planPrune(connections, new Map(), options({ low: 0 }), NOW))).toEqual(['in-new', 'in-old', 'out', 'busy'])
  })

  it('libp2p’s own limit stays above our high watermark, so its pruner never fires first', () => {
    for (const high of [1, 3, 200, 5000]) expect(libp2pMaxConnections(high)).toBeGreaterThan(high)
  })
})
