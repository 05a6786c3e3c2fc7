import '../../src/shims.ts'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { PeerStates } from '../support/peers.ts'

interface ConnectResult {
  success: boolean
  connectionType: string
  error?: string
}

/** How long the remote takes to decide on a connection: far longer than an answer that does not wait for it. */
const DECIDE_MS = 1_500

/**
 * A plain libp2p peer whose gater takes DECIDE_MS per inbound connection (a busy host, a lookup of
 * its own) and refuses while `refusing`: its refusal reaches us only after our side of the
 * handshake is done, when our libp2p already reports the peer connected.
 */
async function slowGatekeeper(): Promise<{ node: Libp2p; refusing: { now: boolean } }> {
  const refusing = { now: true }
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: {
      denyDialMultiaddr: async () => false,
      denyInboundEncryptedConnection: async () => {
        const refuse = refusing.now
        await new Promise((resolve) => setTimeout(resolve, DECIDE_MS))
        return refuse
      },
    },
  })
  return { node, refusing }
}

describe('a connection the remote refuses after the handshake', () => {
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    await Promise.allSettled(stops.splice(0).map((stop) => stop()))
  })

  it('is no connect success, though it made the peer connected for a moment; one the remote accepts is', async () => {
    const { node: remote, refusing } = await slowGatekeeper()
    stops.push(async () => {
      await remote.stop()
    })
    const B: TestDaemon = await startTestDaemon()
    stops.push(() => B.destroy())
    const remoteId = remote.peerId.toString()
    const addr = remote.getMultiaddrs()[0]
    if (addr === undefined) throw new Error('the remote has no address')
    const cb = await B.client()
    const states = await PeerStates.bind(cb)

    // another part of the daemon (the DHT, a heal probe) opens the connection: on our side it is up
    const conn = await B.core.nodes.handle('peer-a').libp2p.dial(addr)
    expect(conn.status).toBe('open')
    await states.until(remoteId, (s) => s.status === 'connected')
    const refused = await cb.call<ConnectResult>('peers.connect', { peerId: remoteId })
    expect(refused).toMatchObject({ success: false, connectionType: 'none' })
    expect(refused.error).toContain('does not accept us')
    expect(conn.status).not.toBe('open')
    await states.until(remoteId, (s) => s.status !== 'connected')

    // the control: the same peer, accepting, is a success once it answers
    refusing.now = false
    expect(await cb.call<ConnectResult>('peers.connect', { peerId: remoteId, addrs: [addr.toString()] })).toEqual({
      success: true,
      connectionType: 'direct',
    })
  })
})
