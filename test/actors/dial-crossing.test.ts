import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon, tcpAddrOf } from '../support/daemon.ts'
import { type TcpRelay, tcpRelay } from '../support/tcp-relay.ts'

/**
 * Two ends dial each other (as after a heal): A's dial to B is slow (through a relay that holds B's
 * first reply), B's dial to A gets in first. A, connected through B's connection, cuts its own dial
 * instead of finishing a second handshake for a second connection.
 */
describe('a dial crossed by the peer’s own', () => {
  let a: TestDaemon
  let b: TestDaemon
  let relay: TcpRelay
  let ca: SwitchboardClient
  let cb: SwitchboardClient

  beforeAll(async () => {
    // a budget long enough that only the cut, not a deadline, ends A's dial within the test
    ;[a, b] = await Promise.all([startTestDaemon({ dialTimeoutMs: 60_000 }), startTestDaemon({ dialTimeoutMs: 60_000 })])
    ;[ca, cb] = await Promise.all([a.client(), b.client()])
    const port = Number(/\/tcp\/(\d+)\//.exec(tcpAddrOf(b))?.[1])
    relay = await tcpRelay(port, { holdFirstReplyMs: 60_000 })
  })
  afterAll(async () => {
    await relay?.close()
    await Promise.all([a, b].map((x) => x?.destroy()))
  })

  it('is cut when the peer connects in on its own', async () => {
    const slow = ca.call<{ success: boolean }>('peers.connect', {
      peerId: b.peerId,
      addrs: [`/ip4/127.0.0.1/tcp/${relay.port}/p2p/${b.peerId}`],
    })
    await vi.waitFor(() => expect(relay.open()).toBe(1), { timeout: 10_000 })
    expect(await cb.call<{ success: boolean }>('peers.connect', { peerId: a.peerId, addrs: [tcpAddrOf(a)] })).toMatchObject({
      success: true,
    })
    expect(await slow).toMatchObject({ success: true })
    // A gives its handshake through the relay up (B would end it only at its inbound upgrade timeout)
    await vi.waitFor(() => expect(relay.closedByDialer()).toBe(1), { timeout: 20_000 })
    expect(
      a.core.nodes
        .handle('peer-a')
        .libp2p.getConnections()
        .filter((c) => c.remotePeer.toString() === b.peerId),
    ).toHaveLength(1)
  })
})
