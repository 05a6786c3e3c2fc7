import { createHash } from 'node:crypto'
import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { topicCid } from '../../src/p2p/topic-cid.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'

/** The tag kad-dht puts on its closest peers so that libp2p reconnects them (KEEP_ALIVE_TAG in @libp2p/kad-dht). */
const KEEP_ALIVE_KAD = `${KEEP_ALIVE}-kad-dht`

/** RFC 4648 base32, lower case, unpadded: multibase 'b', written out here to check the CID independently. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

describe('topic CID: what go-libp2p routing discovery provides for a namespace', () => {
  it('is CIDv1, raw codec, sha256 multihash of the topic name', async () => {
    for (const topic of ['hello', 'chat', 'p2p-webapp/é ✓', 'x'.repeat(1024)]) {
      const digest = createHash('sha256').update(topic, 'utf8').digest()
      // version 1, codec raw (0x55), multihash sha2-256 (0x12) of 32 bytes (0x20)
      const bytes = Uint8Array.from([0x01, 0x55, 0x12, 0x20, ...digest])
      const cid = await topicCid(topic)
      expect(cid.bytes, topic).toEqual(bytes)
      expect(cid.toString(), topic).toBe(`b${base32(bytes)}`)
      expect(cid.toString()).toBe(CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(topic))).toString())
    }
    expect((await topicCid('hello')).toString()).toBe('bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq')
    expect((await topicCid('chat')).toString()).toBe('bafkreibr4bxx3cp6xgna43ak77qzq5emho2355pdzsjnsxfz5glbs7j7ym')
  })
})

describe('topic discovery through the DHT', () => {
  let a: TestDaemon
  let b: TestDaemon
  let c: TestDaemon

  const libp2pOf = (d: TestDaemon) => d.core.nodes.handle('peer-a').libp2p
  const connected = (from: TestDaemon, to: TestDaemon) =>
    libp2pOf(from)
      .getConnections()
      .some((conn) => conn.remotePeer.toString() === to.peerId)
  /** Hang up on `to` without libp2p's reconnect queue dialling it again for kad's keep-alive tag. */
  const separate = async (from: TestDaemon, to: TestDaemon) => {
    const peer = peerIdFromString(to.peerId)
    await libp2pOf(from).peerStore.merge(peer, { tags: { [KEEP_ALIVE_KAD]: undefined } })
    await libp2pOf(from).hangUp(peer)
  }

  beforeAll(async () => {
    a = await startTestDaemon()
    const bootstrap = a.core.nodes.info('peer-a').addrs.filter((x) => x.includes('/127.0.0.1/tcp/'))
    ;[b, c] = await Promise.all([startTestDaemon({ bootstrap }), startTestDaemon({ bootstrap })])
  })
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy(), c?.destroy()])
  })

  it('B and C, connected only through A, find each other by the topic CID provider record once both subscribe', {
    timeout: 180_000,
  }, async () => {
    const [ca, cb, cc] = await Promise.all([a.client(), b.client(), c.client()])
    const ready = (client: SwitchboardClient) =>
      vi.waitFor(async () => expect(await client.call('node.info')).toMatchObject({ dhtReady: true }), { timeout: 60_000, interval: 100 })
    await Promise.all([ready(ca), ready(cb), ready(cc)])

    const topic = `rendezvous-${c.peerId.slice(-8)}`
    const cid = (await topicCid(topic)).toString()
    await cc.call('subscribe', { topic })
    // C provides the topic's CID: A, which only relays, can name C as a provider
    await vi.waitFor(
      async () => {
        const { providers } = await ca.call<{ providers: { peerId: string }[] }>('dht.findProviders', { cid, timeoutMs: 10_000 })
        expect(providers.map((p) => p.peerId)).toContain(c.peerId)
      },
      { timeout: 60_000, interval: 200 },
    )

    // In a three-node network kad keeps every peer connected to every other (its closest peers are
    // tagged keep-alive). Undo that between B and C, and keep B from providing (a provide dials the
    // peers closest to the CID, C among them): only B's lookup of the topic's providers can bring them together.
    libp2pOf(b).contentRouting.provide = async () => {}
    // C's own provide may still be talking to B: let its DHT queue drain first
    await vi.waitFor(
      async () => {
        const [dht] = (
          await cc.call<{ actors: { context: { queued: number; running: number } }[] }>('actors.list', { prefix: 'dht:peer-a' })
        ).actors
        expect(dht?.context).toMatchObject({ queued: 0, running: 0 })
      },
      { timeout: 60_000, interval: 100 },
    )
    await Promise.all([separate(b, c), separate(c, b)])
    await vi.waitFor(
      async () => {
        expect(connected(b, c) || connected(c, b)).toBe(false)
        expect(await cb.call<{ peers: string[] }>('listpeers', { topic })).toEqual({ peers: [] })
      },
      { timeout: 30_000, interval: 50 },
    )

    const cJoinedOnB = cb.waitFor<{ topic: string; peerid: string; joined: boolean }>(
      'peerChange',
      (p) => p.topic === topic && p.peerid === c.peerId,
      60_000,
    )
    const bJoinedOnC = cc.waitFor<{ topic: string; peerid: string; joined: boolean }>(
      'peerChange',
      (p) => p.topic === topic && p.peerid === b.peerId,
      60_000,
    )
    await cb.call('subscribe', { topic })
    expect(await cJoinedOnB).toEqual({ topic, peerid: c.peerId, joined: true })
    expect(await bJoinedOnC).toEqual({ topic, peerid: b.peerId, joined: true })
    expect(connected(b, c)).toBe(true)
    // B learnt C's addresses from the provider record
    expect(b.core.stores.addressBook.forPeer(c.peerId).length).toBeGreaterThan(0)

    const got = cc.waitFor<{ topic: string; peerid: string; data: unknown }>('topicData', (p) => p.topic === topic, 30_000)
    await cb.call('publish', { topic, data: 'found you' })
    expect(await got).toEqual({ topic, peerid: b.peerId, data: 'found you' })
  })
})
