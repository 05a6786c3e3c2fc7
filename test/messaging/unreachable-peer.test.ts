import { rm } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { Config } from '../../src/config.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'
import { teachAddress } from '../support/peers.ts'
import { freePorts } from '../support/process-daemon.ts'
import type { Ack, PeerData } from './support.ts'

const PROTOCOL = '/mail/1.0.0'
const WAIT_MS = 45_000

describe('direct messages to a peer that goes away', () => {
  let a: TestDaemon
  /** Gives up after 3 s and holds at most 3 messages per peer. */
  let impatient: TestDaemon
  let b: TestDaemon | undefined
  let bId: string
  let bDir: string
  let bListen: string[]
  let ca: SwitchboardClient
  let ci: SwitchboardClient

  /** B as the same peer on the same address: its data directory (identity) and a fixed port. */
  const startB = async (overrides: Partial<Config> = {}) => {
    b = await startTestDaemon({ listen: bListen, ...overrides }, bDir)
    return b
  }

  beforeAll(async () => {
    bDir = await tempDir()
    bListen = [`/ip4/127.0.0.1/tcp/${await freePorts(1)}`]
    ;[a, impatient] = await Promise.all([
      startTestDaemon({ messageRetryWindowMs: 60_000 }),
      startTestDaemon({ messageRetryWindowMs: 3_000, messageQueueLimit: 3 }),
    ])
    const first = await startB()
    bId = first.peerId
    teachAddress(a, first)
    teachAddress(impatient, first)
    ;[ca, ci] = await Promise.all([a.client(), impatient.client()])
    await ca.call('start', { protocol: PROTOCOL })
    await ci.call('start', { protocol: PROTOCOL })
    const cb = await first.client()
    await cb.call('start', { protocol: PROTOCOL })
    // both reach B while it is up, so what follows is about B going away
    for (const [c, n] of [
      [ca, 0],
      [ci, 1],
    ] as const) {
      const ack = c.waitFor<Ack>('ack', (x) => x.ack === n, WAIT_MS)
      await c.call('send', { peer: first.peerId, protocol: PROTOCOL, data: 'warm-up', ack: n })
      expect(await ack).toEqual({ ack: n, delivered: true })
    }
    await first.destroy()
    b = undefined
  })
  afterAll(async () => {
    await Promise.allSettled([a?.destroy(), impatient?.destroy(), b?.destroy()])
    await rm(bDir, { recursive: true, force: true })
  })

  it('gives up with delivered: false and the reason once the retry window has passed; a full queue is 429', async () => {
    const acks: Ack[] = []
    ci.on<Ack>('ack', (x) => x.ack >= 10 && acks.push(x))
    for (const n of [10, 11, 12]) expect(await ci.call('send', { peer: bId, protocol: PROTOCOL, data: 'too late', ack: n })).toBeNull()
    const full = await ci.call('send', { peer: bId, protocol: PROTOCOL, data: 'one too many', ack: 13 }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(full?.message).toMatch(/^429: .*queue to peer .* is full/)
    await vi.waitFor(() => expect(acks).toHaveLength(3), { timeout: WAIT_MS, interval: 50 })
    expect(acks.map((x) => [x.ack, x.delivered])).toEqual([
      [10, false],
      [11, false],
      [12, false],
    ])
    // the reason names the window and what the dial ran into
    expect(acks[0]?.error).toMatch(/unreachable for 3000 ms: .*ECONNREFUSED/)
    // the queue has room again
    const again = ci.waitFor<Ack>('ack', (x) => x.ack === 14, WAIT_MS)
    expect(await ci.call('send', { peer: bId, protocol: PROTOCOL, data: 'again', ack: 14 })).toBeNull()
    expect(await again).toMatchObject({ delivered: false })
  })

  it('delivers once the peer is back within the window, and only then acks', async () => {
    const acks: Ack[] = []
    ca.on<Ack>('ack', (x) => acks.push(x))
    for (let i = 0; i < 5; i++)
      expect(await ca.call('send', { peer: bId, protocol: PROTOCOL, data: { note: 'while you were away', i }, ack: 20 + i })).toBeNull()
    // A really tried and failed while B was down (its peer actor shows the failed dial) and did not ack
    await vi.waitFor(
      () => expect((a.core.actors.registry.get(`peer:peer-a:${bId}`)?.context as { lastError?: string | null })?.lastError).toBeTruthy(),
      {
        timeout: WAIT_MS,
        interval: 50,
      },
    )
    expect(acks).toEqual([])

    // B comes back refusing unknown peers, so A cannot get in before B's app has started the
    // protocol again; then B lets A in, as a user accepting a device would
    const back = await startB({ unknownPeers: 'reject' })
    expect(back.peerId).toBe(bId)
    const cb = await back.client()
    await cb.call('start', { protocol: PROTOCOL })
    const received: PeerData[] = []
    cb.on<PeerData>('peerData', (p) => received.push(p))
    await cb.call('peers.update', { peerId: a.peerId, known: true })

    const sent = Array.from({ length: 5 }, (_, i) => ({ peer: a.peerId, protocol: PROTOCOL, data: { note: 'while you were away', i } }))
    await vi.waitFor(() => expect(received).toEqual(sent), { timeout: WAIT_MS, interval: 50 })
    await vi.waitFor(() => expect(acks).toEqual(sent.map((_, i) => ({ ack: 20 + i, delivered: true }))), { timeout: WAIT_MS, interval: 50 })
  })
})
