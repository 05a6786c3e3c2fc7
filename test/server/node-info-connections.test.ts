import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestDaemon, type TestDaemon, tcpAddrOf } from '../support/daemon.ts'

/** `d`'s TCP address with its /p2p/ part. */

/** node.info keeps its connection count between connection events: it must follow every open and close. */
describe('node.info connections', () => {
  let a: TestDaemon
  let b: TestDaemon

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startTestDaemon(), startTestDaemon()])
  })
  afterAll(async () => {
    await Promise.all([a, b].map((x) => x?.destroy()))
  })

  it('counts what libp2p holds, after a connection opens and after it closes', async () => {
    const libp2p = a.core.nodes.handle('peer-a').libp2p
    const counted = () => a.core.nodes.info('peer-a').connections
    expect(counted()).toBe(libp2p.getConnections().length)
    const before = counted()
    const opened = new Promise<void>((resolve) => libp2p.addEventListener('connection:open', () => resolve(), { once: true }))
    const c = await a.client()
    const result = await c.call<{ success: boolean }>('peers.connect', { peerId: b.peerId, addrs: [tcpAddrOf(b)] })
    expect(result.success).toBe(true)
    await opened
    expect(counted()).toBe(libp2p.getConnections().length)
    expect(counted()).toBeGreaterThan(before)
    const closed = new Promise<void>((resolve) => libp2p.addEventListener('connection:close', () => resolve(), { once: true }))
    await c.call('peers.disconnect', { peerId: b.peerId })
    await closed
    expect(counted()).toBe(libp2p.getConnections().length)
    expect(counted()).toBe(before)
  })
})
