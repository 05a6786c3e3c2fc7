import { afterEach, describe, expect, it } from 'vitest'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { type TcpRelay, tcpRelay } from '../support/tcp-relay.ts'

/*
 * A peer on a loaded host answers a dial at once but takes seconds over its handshake. A dial cut
 * such an address at half its budget and threw the handshake away: in the lab, a twenty-daemon heal
 * aborted 153 handshakes that way and started them again elsewhere. An address that answered now
 * keeps the dial's whole budget (src/actors/peer/peer.actors.ts).
 */

describe('a peer that answers but is slow to finish the handshake', () => {
  let a: TestDaemon | undefined
  let b: NodeHandle | undefined
  let relay: TcpRelay | undefined
  afterEach(async () => {
    await relay?.close()
    await b?.stop()
    await a?.destroy()
  })

  it('is connected within the dial budget, not cut at half of it', async () => {
    const dialTimeoutMs = 3_000
    a = await startTestDaemon({ dialTimeoutMs, connectTries: 1 })
    b = await startRawNode()
    const bPort = Number(b.libp2p.getMultiaddrs()[0]?.toString().split('/')[4])
    // the handshake's first answer comes after 70% of the budget: past the half at which an address was cut
    relay = await tcpRelay(bPort, { holdFirstReplyMs: dialTimeoutMs * 0.7 })
    const bId = b.libp2p.peerId.toString()
    a.core.stores.addressBook.add(`/ip4/127.0.0.1/tcp/${relay.port}`, { peerId: bId, source: 'manual' })
    const client = await a.client()
    const result = await client.call<{ success: boolean; error?: string }>('peers.connect', { peerId: bId })
    expect(result).toMatchObject({ success: true })
  })
})
