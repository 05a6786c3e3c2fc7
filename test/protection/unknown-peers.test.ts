import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon, tcpAddrOf } from '../support/daemon.ts'
import { PeerStates } from '../support/peers.ts'

interface ConnectResult {
  success: boolean
  connectionType: string
  error?: string
}

/** `d`'s TCP address with its /p2p/ part. */

const connectionsOf = (from: TestDaemon, to: TestDaemon) =>
  from.core.nodes.handle('peer-a').libp2p.getConnections(peerIdFromString(to.peerId)).length

/**
 * A runs with `unknownPeers: reject`. S dials it as a stranger, then again once A knows it (made
 * known with peers.update; pairing does that later); D is added on A by id alone (A has no address
 * for it) and dials in.
 */
describe('unknownPeers: reject', () => {
  let a: TestDaemon
  let s: TestDaemon
  let d: TestDaemon
  let ca: SwitchboardClient
  let cs: SwitchboardClient
  let cd: SwitchboardClient
  let statesA: PeerStates

  beforeAll(async () => {
    ;[a, s, d] = await Promise.all([startTestDaemon({ unknownPeers: 'reject' }), startTestDaemon(), startTestDaemon()])
    ;[ca, cs, cd] = await Promise.all([a.client(), s.client(), d.client()])
    statesA = await PeerStates.bind(ca)
  })
  afterAll(async () => {
    await Promise.all([a, s, d].map((x) => x?.destroy()))
  })

  it("a stranger's dial is refused", async () => {
    const result = await cs.call<ConnectResult>('peers.connect', { peerId: a.peerId, addrs: [tcpAddrOf(a)] })
    expect(result).toMatchObject({ success: false, connectionType: 'none' })
    expect(connectionsOf(a, s)).toBe(0)
    expect(connectionsOf(s, a)).toBe(0)
    // refusing a stranger is policy, not a penalty
    expect(a.core.stores.reputation.score(s.peerId)).toBe(0)
    expect(a.core.peers.ref('peer-a', s.peerId)?.getSnapshot().matches('connected') ?? false).toBe(false)
  })

  it('the same peer gets in once it is known', async () => {
    expect(await ca.call('peers.update', { peerId: s.peerId, known: true })).toMatchObject({ known: true })
    const result = await cs.call<ConnectResult>('peers.connect', { peerId: a.peerId, addrs: [tcpAddrOf(a)] })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    await statesA.until(s.peerId, (x) => x.status === 'connected')
    expect(connectionsOf(a, s)).toBeGreaterThan(0)
  })

  it('an added peer gets in', async () => {
    // by id alone: A cannot dial D (no address, no DHT), so D's dial in is what connects them
    expect(await ca.call('addpeers', { peerIds: [d.peerId] })).toBeNull()
    expect(a.core.peers.isAdded('peer-a', d.peerId)).toBe(true)
    const result = await cd.call<ConnectResult>('peers.connect', { peerId: a.peerId, addrs: [tcpAddrOf(a)] })
    expect(result).toEqual({ success: true, connectionType: 'direct' })
    await statesA.until(d.peerId, (x) => x.status === 'connected' && x.added)
    expect(connectionsOf(a, d)).toBeGreaterThan(0)
  })

  it('a peer no longer known or added is refused again', async () => {
    await ca.call('peers.forget', { peerId: s.peerId })
    expect(connectionsOf(a, s)).toBe(0)
    const result = await cs.call<ConnectResult>('peers.connect', { peerId: a.peerId, addrs: [tcpAddrOf(a)] })
    expect(result).toMatchObject({ success: false })
    expect(connectionsOf(a, s)).toBe(0)
  })
})
