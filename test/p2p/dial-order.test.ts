import { describe, expect, it } from 'vitest'
import { dialOrder } from '../../src/p2p/address-book/dial-order.ts'

const e = (multiaddr: string) => ({ multiaddr })

describe('dial order', () => {
  it("puts a remote peer's loopback addresses after its others, keeping the book's order within each", () => {
    const book = [
      e('/ip4/127.0.0.1/udp/4002/webrtc-direct'),
      e('/ip4/10.81.0.11/tcp/4001'),
      e('/ip6/::1/tcp/4001'),
      e('/ip4/10.81.0.11/tcp/4003/ws'),
    ]
    expect(dialOrder(book).map((x) => x.multiaddr)).toEqual([
      '/ip4/10.81.0.11/tcp/4001',
      '/ip4/10.81.0.11/tcp/4003/ws',
      '/ip4/127.0.0.1/udp/4002/webrtc-direct',
      '/ip6/::1/tcp/4001',
    ])
  })

  it('keeps a peer that has only loopback addresses (one on our own host) as the book ranks it', () => {
    const book = [e('/ip4/127.0.0.1/tcp/4001'), e('/ip4/127.0.0.1/udp/4002/webrtc-direct')]
    expect(dialOrder(book)).toEqual(book)
    expect(dialOrder([])).toEqual([])
  })
})
