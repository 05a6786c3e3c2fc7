import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostOf, hostVerdict, loopbackMayBePeer } from '../../src/p2p/dial-host.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

const errno = (code: string, message: string) => Object.assign(new Error(message), { code })

describe('hostVerdict', () => {
  it('a handshake that began means the host answered, whatever the error', () => {
    expect(hostVerdict(new Error('read ECONNRESET'), true)).toBe('answered')
    expect(hostVerdict(errno('ECONNREFUSED', 'connect ECONNREFUSED'), true)).toBe('answered')
  })

  it('an unreachable host or network, however libp2p wraps it', () => {
    expect(hostVerdict(errno('EHOSTUNREACH', 'connect EHOSTUNREACH 10.82.0.26:33503'), false)).toBe('unreachable')
    expect(hostVerdict(new Error('connection error 10.82.0.26:39651: connect ENETUNREACH 10.82.0.26:39651'), false)).toBe('unreachable')
    expect(hostVerdict(new Error('Could not connect', { cause: errno('EHOSTUNREACH', 'x') }), false)).toBe('unreachable')
    expect(hostVerdict(new AggregateError([new Error('timeout'), errno('ENETUNREACH', 'y')], 'All promises were rejected'), false)).toBe(
      'unreachable',
    )
  })

  it('refused or silent says nothing about the host’s other transports', () => {
    expect(hostVerdict(errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:4001'), false)).toBe('unknown')
    expect(hostVerdict(new Error('dial timed out after 5000 ms'), false)).toBe('unknown')
    expect(hostVerdict(undefined, false)).toBe('unknown')
    const loop: { cause?: unknown } = {}
    loop.cause = loop
    expect(hostVerdict(loop, false)).toBe('unknown')
  })

  it('hostOf names the IP or DNS name of an address', () => {
    expect(hostOf('/ip4/10.81.0.12/tcp/4001/p2p/12D3KooWx')).toBe('10.81.0.12')
    expect(hostOf('/ip6/::1/udp/4001/webrtc-direct')).toBe('::1')
    expect(hostOf('/dns4/example.org/tcp/443/wss')).toBe('example.org')
    expect(hostOf('/p2p/12D3KooWx/p2p-circuit')).toBeUndefined()
  })
})

describe('loopbackMayBePeer', () => {
  const own = new Set(['127.0.0.1', '10.81.0.12'])
  it('a peer on another host: its loopback addresses reach ours', () => {
    expect(loopbackMayBePeer(['/ip4/10.82.0.26/tcp/4001', '/ip4/127.0.0.1/tcp/4001'], own)).toBe(false)
    expect(loopbackMayBePeer(['/dns4/example.org/tcp/443/wss', '/ip4/127.0.0.1/tcp/4001'], own)).toBe(false)
  })
  it('a peer on this host (one of its addresses is ours), or one that announces only loopback', () => {
    expect(loopbackMayBePeer(['/ip4/10.81.0.12/tcp/4002', '/ip4/127.0.0.1/tcp/4002'], own)).toBe(true)
    expect(loopbackMayBePeer(['/ip4/127.0.0.1/tcp/4002', '/ip6/::1/tcp/4002'], own)).toBe(true)
    expect(loopbackMayBePeer([], own)).toBe(true)
  })
  it("a relayed address names the relay's host, not the peer's", () => {
    expect(loopbackMayBePeer(['/ip4/10.82.0.26/tcp/4001/p2p/12D3KooWr/p2p-circuit', '/ip4/127.0.0.1/tcp/4002'], own)).toBe(true)
  })
})

/**
 * A refuses strangers and listens on every default transport. S dials it with all of A's addresses:
 * A's refusal on the first (TCP) says what the others would say, so S tries no other transport of
 * that host (WebRTC-direct would cost both a certificate, ICE, DTLS and a Noise handshake more).
 */
describe('a dial that a host answered tries none of its other transports', () => {
  let a: TestDaemon
  let s: TestDaemon

  beforeAll(async () => {
    ;[a, s] = await Promise.all([
      startTestDaemon({
        unknownPeers: 'reject',
        listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/udp/0/webrtc-direct'],
      }),
      startTestDaemon(),
    ])
  })
  afterAll(async () => {
    await Promise.all([a, s].map((x) => x?.destroy()))
  })

  it('refused on TCP, not tried on WebSockets or WebRTC-direct', async () => {
    const addrs = a.core.nodes.info('peer-a').addrs
    expect(addrs.some((x) => x.includes('/ws/'))).toBe(true)
    expect(addrs.some((x) => x.includes('/webrtc-direct/'))).toBe(true)
    const cs = await s.client()
    const result = await cs.call<{ success: boolean; error?: string }>('peers.connect', { peerId: a.peerId, addrs })
    expect(result.success).toBe(false)
    expect(result.error).toMatch(/\/tcp\/\d+\/p2p\//)
    expect(result.error).not.toMatch(/\/ws\/|webrtc-direct/)
    // S's address book: TCP tried (once per try of the connect), the others never
    const attempts = (kind: RegExp) => s.core.stores.addressBook.forPeer(a.peerId).find((e) => kind.test(e.multiaddr))?.attempts
    expect(attempts(/\/tcp\/\d+\/p2p\//)).toBeGreaterThan(0)
    expect(attempts(/\/ws\//)).toBe(0)
    expect(attempts(/\/webrtc-direct\//)).toBe(0)
  })
})
