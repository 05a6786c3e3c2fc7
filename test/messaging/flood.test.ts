import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { goFrame, openRawStream, type PeerData } from './support.ts'

describe('a peer flooding direct messages', () => {
  let b: TestDaemon
  let cb: SwitchboardClient
  let raw: NodeHandle
  beforeAll(async () => {
    // a small budget: 5 at once, then 1 a second
    b = await startTestDaemon({ peerMessageBurst: 5, peerMessagesPerSecond: 1 })
    cb = await b.client()
    await cb.call('start', { protocol: 'chat' })
    raw = await startRawNode()
  })
  afterAll(async () => {
    await raw?.stop()
    await b?.destroy()
  })

  it('is refused past its budget, loses reputation for the flood, and what fitted the budget was delivered', async () => {
    const rawId = raw.libp2p.peerId.toString()
    const { stream, answers } = await openRawStream(raw, b, 'chat')
    const delivered: unknown[] = []
    cb.on<PeerData>('peerData', (p) => p.peer === rawId && delivered.push(p.data))

    for (let i = 0; i < 40; i++) stream.send(goFrame(`{"type":"data","id":"f-${i}","data":"${Buffer.from(String(i)).toString('base64')}"}`))
    await vi.waitFor(() => expect(answers).toHaveLength(40), { timeout: 30_000, interval: 20 })

    const acked = answers.filter((a) => a.type === 'ack').map((a) => a.id)
    const refused = answers.filter((a) => a.type === 'nack')
    // the burst fits (plus whatever refilled meanwhile); the rest is refused with the reason
    expect(acked.length).toBeGreaterThanOrEqual(5)
    expect(acked.length).toBeLessThan(40)
    expect(refused.length).toBe(40 - acked.length)
    expect(refused[0]).toMatchObject({ type: 'nack', error: expect.stringMatching(/^rate limited/) })
    await vi.waitFor(() => expect(delivered).toHaveLength(acked.length), { timeout: 30_000, interval: 20 })
    // a flood costs more than our own dial failures ever can (at most 1 each, never below -49)
    expect(b.core.stores.reputation.score(rawId)).toBeLessThanOrEqual(-25)
    const { activity } = await cb.call<{ activity: Array<{ type: string; peerId?: string; message: string }> }>('activity.list', {})
    expect(activity.some((a) => a.type === 'error' && a.peerId === rawId && a.message.includes('flood'))).toBe(true)
  })
})
