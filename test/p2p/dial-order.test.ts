import { describe, expect, it } from 'vitest'
import { dialOrder } from '../../src/p2p/address-book/dial-order.ts'

const e = (multiaddr: string) => ({ multiaddr })
const order = (addrs: string[]) => dialOrder(addrs.map(e)).map((x) => x.multiaddr)

describe('dial order', () => {
  it("puts a remote peer's loopback addresses after its others", () => {
    expect(
      order(['/ip4/127.0.0.1/udp/4002/webrtc-direct', '/ip4/10.81.0.11/tcp/4001', '/ip6/::1/tcp/4001', '/ip4/10.81.0.11/tcp/4003/ws']),
    ).toEqual(['/ip4/10.81.0.11/tcp/4001', '/ip4/10.81.0.11/tcp/4003/ws', '/ip6/::1/tcp/4001', '/ip4/127.0.0.1/udp/4002/webrtc-direct'])
  })

  it("prefers TCP, then WebSockets, then WebRTC-direct, keeping the book's order within each", () => {
    const certhash = 'certhash/uEiBgdBHJUoF5Fe9Um6ulY86jW6kVfdQCeAVvEq_5R8mIhQ'
    expect(
      order([
        `/ip4/127.0.0.1/udp/4002/webrtc-direct/${certhash}`,
        '/ip4/127.0.0.1/tcp/4003/ws',
        '/ip4/127.0.0.1/tcp/4001',
        '/ip4/127.0.0.1/tcp/4005',
      ]),
    ).toEqual([
      '/ip4/127.0.0.1/tcp/4001',
      '/ip4/127.0.0.1/tcp/4005',
      '/ip4/127.0.0.1/tcp/4003/ws',
      `/ip4/127.0.0.1/udp/4002/webrtc-direct/${certhash}`,
    ])
    expect(order([])).toEqual([])
  })
})
