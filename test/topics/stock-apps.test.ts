import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import type { ReputationEntry } from '../../src/p2p/reputation.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf } from '../support/peers.ts'
import { startRawNode } from '../support/raw-node.ts'

interface TopicData {
  topic: string
  peerid: string
  data: unknown
  encoding?: 'text' | 'base64'
}

const utf8 = new TextEncoder()

/**
 * A stock js-libp2p app (a bare node with @libp2p/gossipsub, no Switchboard protocol) on a topic
 * with a WebSocket client of the daemon: whatever bytes it publishes arrive, none costs reputation.
 */
describe('topics with a stock libp2p app', () => {
  const topic = 'stock-chat'
  let d: TestDaemon
  let client: SwitchboardClient
  let raw: NodeHandle
  let rawId: string
  /** Every payload the raw node received on the topic, as bytes. */
  const received: Uint8Array[] = []

  beforeAll(async () => {
    d = await startTestDaemon()
    client = await d.client()
    raw = await startRawNode()
    rawId = raw.libp2p.peerId.toString()
    const pubsub = raw.libp2p.services.pubsub
    pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === topic) received.push(e.detail.data)
    })
    pubsub.subscribe(topic)
    await client.call('subscribe', { topic })
    await raw.libp2p.dial(multiaddr(d.core.nodes.info('peer-a').addrs.find((a) => a.includes('/127.0.0.1/tcp/')) ?? ''))
    // both sides know the other is on the topic: a publish either way has someone to go to
    await vi.waitFor(() => expect(pubsub.getSubscribers(topic).map(String)).toContain(d.peerId), { timeout: 30_000, interval: 20 })
    await vi.waitFor(async () => expect((await client.call<{ peers: string[] }>('listpeers', { topic })).peers).toContain(rawId), {
      timeout: 30_000,
      interval: 20,
    })
  })
  afterAll(async () => {
    await raw?.stop()
    await d?.destroy()
  })

  const fromRaw = (bytes: Uint8Array) => {
    const got = client.waitFor<TopicData>('topicData', (p) => p.topic === topic && p.peerid === rawId, 30_000)
    void raw.libp2p.services.pubsub.publish(topic, bytes)
    return got
  }

  it('plain text arrives with encoding text, binary with encoding base64, JSON as always with no encoding', async () => {
    expect(await fromRaw(utf8.encode('hello from a stock app, ünïcode ✓'))).toEqual({
      topic,
      peerid: rawId,
      data: 'hello from a stock app, ünïcode ✓',
      encoding: 'text',
    })
    const binary = new Uint8Array([0xff, 0x00, 0x80, 0xc3, 0x28, 0x7b])
    expect(await fromRaw(binary)).toEqual({ topic, peerid: rawId, data: Buffer.from(binary).toString('base64'), encoding: 'base64' })
    const json = await fromRaw(utf8.encode('{"text":"hi","n":[1,2.5,null]}'))
    expect(json).toEqual({ topic, peerid: rawId, data: { text: 'hi', n: [1, 2.5, null] } })
    expect('encoding' in json).toBe(false)
    // text that merely looks like JSON's start is text; an empty payload is empty text
    expect(await fromRaw(utf8.encode('{not json'))).toMatchObject({ data: '{not json', encoding: 'text' })
    expect(await fromRaw(new Uint8Array())).toMatchObject({ data: '', encoding: 'text' })
  })

  it('50 text, binary and JSON messages leave the sender with reputation 0', async () => {
    const seen: TopicData[] = []
    const stop = client.on<TopicData>('topicData', (p) => {
      if (p.topic === topic && p.peerid === rawId) seen.push(p)
    })
    const last = client.waitFor<TopicData>('topicData', (p) => p.topic === topic && p.data === 'last of 50', 30_000)
    for (let i = 0; i < 49; i++) {
      const bytes =
        i % 3 === 0 ? utf8.encode(`text ${i}`) : i % 3 === 1 ? new Uint8Array([0xfe, i, 0xff]) : utf8.encode(JSON.stringify({ i }))
      await raw.libp2p.services.pubsub.publish(topic, bytes)
    }
    await raw.libp2p.services.pubsub.publish(topic, utf8.encode('last of 50'))
    await last
    stop()
    expect(seen).toHaveLength(50)
    expect(seen.filter((p) => p.encoding === 'text')).toHaveLength(18)
    expect(seen.filter((p) => p.encoding === 'base64')).toHaveLength(16)
    expect(seen.filter((p) => p.encoding === undefined)).toHaveLength(16)
    const { peers } = await client.call<{ peers: ReputationEntry[] }>('reputation.list')
    expect(peers.find((p) => p.peerId === rawId)?.score ?? 0).toBe(0)
    expect(raw.libp2p.getConnections(d.core.nodes.handle('peer-a').libp2p.peerId)).not.toHaveLength(0)
  })

  /** The next payload the raw node receives on the topic. */
  const nextAtRaw = async (publish: () => Promise<unknown>): Promise<Uint8Array> => {
    const before = received.length
    await publish()
    await vi.waitFor(() => expect(received.length).toBeGreaterThan(before), { timeout: 30_000, interval: 10 })
    // a plain Uint8Array whatever GossipSub handed over (a Buffer is a subclass), so toEqual compares bytes
    return Uint8Array.from(received[before] as Uint8Array)
  }

  it('publish {encoding: text | base64} sends the exact bytes; without encoding, the JSON text as before', async () => {
    const text = 'plain words for a stock app ✓'
    expect(await nextAtRaw(() => client.call('publish', { topic, data: text, encoding: 'text' }))).toEqual(utf8.encode(text))
    const bytes = new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x80])
    const b64 = Buffer.from(bytes).toString('base64')
    expect(await nextAtRaw(() => client.call('publish', { topic, data: b64, encoding: 'base64' }))).toEqual(bytes)
    // p2p-webapp's publish: the JSON text of data, byte for byte what it always was
    const data = { text: 'héllo', list: [1, 'two', null, { deep: true }], n: 2.5 }
    expect(await nextAtRaw(() => client.call('publish', { topic, data }))).toEqual(utf8.encode(JSON.stringify(data)))
    expect(await nextAtRaw(() => client.call('publish', { topic, data: 'a JSON string' }))).toEqual(utf8.encode('"a JSON string"'))
  })

  it('publish refuses an encoding with data that is not a string, bad base64 and an unknown encoding (400)', async () => {
    expect(await codeOf(client.call('publish', { topic, data: { a: 1 }, encoding: 'text' }))).toBe(400)
    expect(await codeOf(client.call('publish', { topic, data: 'not base64!', encoding: 'base64' }))).toBe(400)
    expect(await codeOf(client.call('publish', { topic, data: 'x', encoding: 'hex' }))).toBe(400)
    await expect(client.call('publish', { topic, data: 'not base64!', encoding: 'base64' })).rejects.toThrow(/data/)
  })
})
