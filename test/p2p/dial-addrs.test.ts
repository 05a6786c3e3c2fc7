import { describe, expect, it } from 'vitest'
import { MAX_DIAL_ADDRS, parseDialAddrs, parsePeerOrAddress } from '../../src/p2p/dial-addrs.ts'
import { InvalidInputError } from '../../src/p2p/validate.ts'

const ID = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
const OTHER = '12D3KooWAH7omP6hRDLpBv17s8mEhZt6dDYkdHFPebJ8hSstHTKK'
const CERT = 'uEiDbWfXpPIGpqQOkBYQyK8_ybrcu_oZM4uLZM5aqRF4pEQ'

describe('parseDialAddrs', () => {
  it('keeps the dialable transports, without their /p2p/ part, deduplicated in order', () => {
    const addrs = parseDialAddrs(
      [
        '/ip4/1.2.3.4/tcp/4001',
        `/ip4/1.2.3.4/tcp/4001/p2p/${ID}`,
        '/ip6/2001:4860::1/tcp/4002/ws',
        '/dns4/example.com/tcp/443/wss',
        '/dns/example.com/tcp/443/tls/ws',
        `/ip4/1.2.3.4/udp/4003/webrtc-direct/certhash/${CERT}`,
        '/dnsaddr/example.com',
      ],
      ID,
    ).map(String)
    expect(addrs).toEqual([
      '/ip4/1.2.3.4/tcp/4001',
      '/ip6/2001:4860::1/tcp/4002/ws',
      '/dns4/example.com/tcp/443/wss',
      '/dns/example.com/tcp/443/tls/ws',
      `/ip4/1.2.3.4/udp/4003/webrtc-direct/certhash/${CERT}`,
      '/dnsaddr/example.com',
    ])
  })

  it('refuses with the index and the problem', () => {
    const cases: Array<[string, RegExp]> = [
      ['nonsense', /"nonsense" is not a dialable multiaddr/],
      ['/ip4/1.2.3.4', /names no transport/],
      ['/ip4/1.2.3.4/udp/1/quic-v1', /\/udp\/quic-v1 is not a transport this daemon dials/],
      ['/ip4/1.2.3.4/tcp/1/http', /\/tcp\/http is not a transport/],
      ['/ip4/224.0.0.1/tcp/1', /224\.0\.0\.1 is a reserved address/],
      ['/ip6/::/tcp/1', /is an unspecified address/],
      [`/ip4/1.2.3.4/tcp/1/p2p/${OTHER}`, new RegExp(`names peer ${OTHER}, not peerId ${ID}`)],
      [`/ip4/1.2.3.4/tcp/1/p2p-circuit/p2p/${ID}`, /names the relay \(\/p2p\/<relay id>\) before \/p2p-circuit/],
      [`/ip4/1.2.3.4/udp/1/quic-v1/p2p/${OTHER}/p2p-circuit/p2p/${ID}`, /\/udp\/quic-v1 is not a transport/],
      ['x'.repeat(2000), /longer than 1024 characters/],
    ]
    for (const [addr, message] of cases) {
      const attempt = () => parseDialAddrs(['/ip4/1.2.3.4/tcp/4001', addr], ID)
      expect(attempt, addr.slice(0, 50)).toThrow(InvalidInputError)
      expect(attempt, addr.slice(0, 50)).toThrow(/^addrs\.1: /)
      expect(attempt, addr.slice(0, 50)).toThrow(message)
    }
    const many = Array.from({ length: MAX_DIAL_ADDRS + 1 }, (_, i) => `/ip4/1.2.3.4/tcp/${i + 1}`)
    expect(() => parseDialAddrs(many, ID)).toThrow(/^addrs: at most 32 addresses, got 33$/)
    expect(parseDialAddrs(many.slice(0, MAX_DIAL_ADDRS), ID)).toHaveLength(MAX_DIAL_ADDRS)
  })
})

describe('relayed addresses', () => {
  it('keep the relay in the route and name the peer behind it', () => {
    const [addr] = parseDialAddrs([`/ip4/1.2.3.4/tcp/1/p2p/${OTHER}/p2p-circuit/p2p/${ID}`], ID)
    expect(addr?.toString()).toBe(`/ip4/1.2.3.4/tcp/1/p2p/${OTHER}/p2p-circuit`)
    expect(() => parseDialAddrs([`/ip4/1.2.3.4/tcp/1/p2p/${ID}/p2p-circuit/p2p/${OTHER}`], ID)).toThrow(/names peer/)
  })
})

describe('parsePeerOrAddress (addpeers entries)', () => {
  it('a peer id, or a dialable multiaddr ending in /p2p/<id>', () => {
    expect(parsePeerOrAddress(ID, 'peerIds.0')).toEqual({ peerId: ID })
    const full = parsePeerOrAddress(`/ip4/1.2.3.4/tcp/4001/p2p/${ID}`, 'peerIds.0')
    expect(full.peerId).toBe(ID)
    expect(full.addr?.toString()).toBe('/ip4/1.2.3.4/tcp/4001')
    expect(() => parsePeerOrAddress('/ip4/1.2.3.4/tcp/4001', 'peerIds.2')).toThrow(/^peerIds\.2: .* names no peer/)
    expect(() => parsePeerOrAddress('not-an-id', 'peerIds.1')).toThrow(/^peerIds\.1: "not-an-id" is not a valid peer id/)
    expect(() => parsePeerOrAddress(`/ip4/1.2.3.4/udp/1/quic-v1/p2p/${ID}`, 'peerIds.0')).toThrow(/not a transport/)
  })
})
