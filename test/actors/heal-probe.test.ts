import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HealProbe, type HealProbeDeps } from '../../src/actors/peer/heal-probe.ts'

const newPeerId = async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

/** A probe over fake peers: statuses and addresses set by the test, dials recorded and settled by it. */
function fakeProbe(opts = { intervalMs: 1_000, timeoutMs: 2_000, maxInFlight: 1, windowMs: 60_000 }) {
  const status = new Map<string, string>()
  const dials: Array<{ addr: string; signal: AbortSignal; settle(ok: boolean): void }> = []
  const reached: string[] = []
  const deps: HealProbeDeps = {
    dial: (addr, { signal }) =>
      new Promise((resolve, reject) => {
        dials.push({ addr: addr.toString(), signal, settle: (ok) => (ok ? resolve(undefined) : reject(new Error('unreachable'))) })
      }),
    addresses: (id) => [`/ip4/10.0.0.${[...status.keys()].indexOf(id) + 1}/tcp/4001`],
    reached: (addr) => reached.push(addr),
    status: (id) => status.get(id),
    now: () => Date.now(),
  }
  return { probe: new HealProbe(deps, opts), status, dials, reached }
}

describe('heal probe', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('dials one lost peer in backoff per interval, round robin, one probe at a time', async () => {
    const { probe, status, dials } = fakeProbe()
    const [p1, p2, p3] = await Promise.all([newPeerId(), newPeerId(), newPeerId()])
    for (const p of [p1, p2, p3]) {
      status.set(p as string, 'backoff')
      probe.lost(p as string)
    }
    expect(dials).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(dials.map((d) => d.addr)).toEqual([`/ip4/10.0.0.1/tcp/4001/p2p/${p1}`])
    // the first probe still runs: the next tick starts none
    await vi.advanceTimersByTimeAsync(1_000)
    expect(dials).toHaveLength(1)
    dials[0]?.settle(false)
    await vi.advanceTimersByTimeAsync(1_000)
    dials[1]?.settle(false)
    await vi.advanceTimersByTimeAsync(1_000)
    dials[2]?.settle(false)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(dials.map((d) => d.addr.split('/')[2])).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1'])
    probe.stop()
  })

  it('runs up to maxInFlight probes at once, each of another peer', async () => {
    const { probe, status, dials } = fakeProbe({ intervalMs: 1_000, timeoutMs: 10_000, maxInFlight: 2, windowMs: 60_000 })
    const [p1, p2, p3] = await Promise.all([newPeerId(), newPeerId(), newPeerId()])
    for (const p of [p1, p2, p3]) {
      status.set(p, 'backoff')
      probe.lost(p)
    }
    await vi.advanceTimersByTimeAsync(3_000)
    expect(dials.map((d) => d.addr.split('/')[2])).toEqual(['10.0.0.1', '10.0.0.2'])
    dials[1]?.settle(false)
    await vi.advanceTimersByTimeAsync(1_000)
    // p1 still runs: the next is p3, then p2 again
    expect(dials.map((d) => d.addr.split('/')[2])).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3'])
    probe.stop()
  })

  it('leaves peers that are back, given up or forgotten, and asks the address book to count only a success', async () => {
    const { probe, status, dials, reached } = fakeProbe()
    const [back, gaveUp, gone, lost] = await Promise.all([newPeerId(), newPeerId(), newPeerId(), newPeerId()])
    status.set(back, 'connected')
    status.set(gaveUp, 'failed')
    status.set(lost, 'backoff')
    for (const p of [back, gaveUp, gone, lost]) probe.lost(p)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(dials.map((d) => d.addr)).toEqual([`/ip4/10.0.0.3/tcp/4001/p2p/${lost}`])
    dials[0]?.settle(true)
    await vi.advanceTimersByTimeAsync(0)
    expect(reached).toEqual(['/ip4/10.0.0.3/tcp/4001'])
    // connected now: nothing left to probe, and no timer keeps ticking
    status.set(lost, 'connected')
    await vi.advanceTimersByTimeAsync(5_000)
    expect(dials).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('gives a probe a short deadline, and leaves a peer lost longer than the window to its own backoff', async () => {
    const { probe, status, dials } = fakeProbe({ intervalMs: 1_000, timeoutMs: 2_000, maxInFlight: 1, windowMs: 10_000 })
    const p = await newPeerId()
    status.set(p, 'backoff')
    probe.lost(p)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(dials[0]?.signal.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(2_000)
    expect(dials[0]?.signal.aborted).toBe(true)
    dials[0]?.settle(false)
    await vi.advanceTimersByTimeAsync(7_000)
    const probed = dials.length
    expect(probed).toBeGreaterThan(1)
    await vi.advanceTimersByTimeAsync(1_000)
    for (const d of dials) d.settle(false)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(dials.length).toBeLessThanOrEqual(probed + 1)
    expect(vi.getTimerCount()).toBe(0)
  })
})
