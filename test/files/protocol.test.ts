import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { createNode, type NodeHandle } from '../../src/p2p/node-factory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { b64, blocksOf, listFiles, store, type Stored } from './support.ts'

const PROTOCOL = '/p2p-webapp/1.0.0'

/** A bare libp2p node that speaks the protocol by hand, as a Go p2p-webapp peer would. */
async function rawPeer(): Promise<NodeHandle> {
  return createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    dhtProtocol: '/p2p-webapp-test/kad/1.0.0',
    allowPrivateAddresses: true,
  })
}

/** `type | u32 big-endian length | body`, built independently of the code under test. */
function frame(type: number, body: string): Buffer {
  const json = Buffer.from(body, 'utf8')
  const head = Buffer.alloc(5)
  head[0] = type
  head.writeUInt32BE(json.length, 1)
  return Buffer.concat([head, json])
}

/** Everything the other side writes until it closes. */
async function readAll(stream: Stream): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(Buffer.from(chunk.subarray()))
  return Buffer.concat(parts)
}

async function exchange(from: NodeHandle, to: TestDaemon, request: Uint8Array): Promise<Buffer> {
  const stream = await from.libp2p.dialProtocol(multiaddr(addrOf(to)), PROTOCOL)
  stream.send(request)
  return readAll(stream)
}

const addrOf = (d: TestDaemon) => {
  const addr = d.core.nodes.info('peer-a').addrs.find((a) => a.includes('/127.0.0.1/tcp/')) as string
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${d.peerId}`
}

const rawBlock = async (d: TestDaemon, cid: string) => Buffer.from(await toBuffer(blocksOf(d).get(CID.parse(cid))))

describe('/p2p-webapp/1.0.0 byte for byte, as the Go implementation frames it', () => {
  let d: TestDaemon
  let c: SwitchboardClient
  let peer: NodeHandle
  let hello: Stored
  let page: Stored
  let empty: Stored

  beforeAll(async () => {
    d = await startTestDaemon()
    c = await d.client()
    hello = await store(c, 'hello.txt', 'hello world')
    // `&` and `<` must come out as Go escapes them: \u0026, \u003c
    page = await store(c, 'docs/a&b.html', '<html><body>tea & <b>cake</b></body></html>')
    empty = await c.call<Stored>('storefile', { path: 'empty', directory: true })
    peer = await rawPeer()
  })
  afterAll(async () => {
    await peer?.stop()
    await d?.destroy()
  })

  it('answers getFileList (the type byte alone) with a fileList frame: struct order, sorted paths, HTML escapes', async () => {
    const list = await listFiles(c, d.peerId)
    const docs = list.entries.docs!.cid
    const expected = frame(
      1,
      `{"cid":"${list.cid}","entries":{` +
        `"docs":{"type":"directory","cid":"${docs}"},` +
        `"docs/a\\u0026b.html":{"type":"file","cid":"${page.fileCid}","mimeType":"text/html; charset=utf-8"},` +
        `"empty":{"type":"directory","cid":"${empty.fileCid}"},` +
        `"hello.txt":{"type":"file","cid":"${hello.fileCid}","mimeType":"text/plain; charset=utf-8"}}}`,
    )
    const reply = await exchange(peer, d, Uint8Array.of(0))
    expect(reply.toString('hex')).toBe(expected.toString('hex'))
  })

  it('answers getFile for a file with its content, sniffed type and raw root block, keys sorted', async () => {
    const reply = await exchange(peer, d, frame(2, `{"cid":"${hello.fileCid}"}`))
    const expected = frame(
      3,
      `{"cid":"${hello.fileCid}","content":"${b64('hello world')}","isDirectory":false,"mimeType":"text/plain; charset=utf-8","rawNode":"${(await rawBlock(d, hello.fileCid)).toString('base64')}"}`,
    )
    expect(reply.toString('hex')).toBe(expected.toString('hex'))
  })

  it('answers getFile for a directory with its entries by name and its raw block', async () => {
    const docs = (await listFiles(c, d.peerId)).entries.docs!.cid
    const reply = await exchange(peer, d, frame(2, `{"cid":"${docs}"}`))
    const expected = frame(
      3,
      `{"cid":"${docs}","entries":{"a\\u0026b.html":"${page.fileCid}"},"isDirectory":true,"rawNode":"${(await rawBlock(d, docs)).toString('base64')}"}`,
    )
    expect(reply.toString('hex')).toBe(expected.toString('hex'))
  })

  it('answers an unknown or unparsable CID with an error reply', async () => {
    const unknown = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    const notFound = await exchange(peer, d, frame(2, `{"cid":"${unknown}"}`))
    expect(notFound[0]).toBe(3)
    expect(notFound.readUInt32BE(1)).toBe(notFound.length - 5)
    expect(notFound.subarray(5).toString()).toMatch(new RegExp(`^\\{"cid":"${unknown}","error":"file not found: .*"\\}$`))
    const invalid = await exchange(peer, d, frame(2, '{"cid":"zzz"}'))
    expect(invalid.subarray(5).toString()).toMatch(/^\{"cid":"zzz","error":"invalid CID: .*"\}$/)
  })

  it('cuts off a peer that sends an oversized or malformed frame, and bans it once its reputation is spent', async () => {
    const rude = await rawPeer()
    try {
      const rudeId = rude.libp2p.peerId.toString()
      // a getFile announcing 4 GiB: refused unread
      const oversized = await rude.libp2p.dialProtocol(multiaddr(addrOf(d)), PROTOCOL)
      oversized.send(Uint8Array.of(2, 0xff, 0xff, 0xff, 0xff))
      // cut off: no reply, the stream reset or closed with the connection
      expect(await readAll(oversized).catch(() => Buffer.alloc(0))).toHaveLength(0)
      await vi.waitFor(() => expect(d.core.stores.reputation.score(rudeId)).toBeLessThan(0), { timeout: 10_000 })
      await vi.waitFor(() => expect(rude.libp2p.getConnections(peerIdFromString(d.peerId))).toHaveLength(0), { timeout: 10_000 })
      expect(d.core.stores.activity.list('peer-a').some((a) => a.peerId === rudeId && a.message.includes('oversized-frame'))).toBe(true)
      expect(d.core.stores.reputation.isBanned(rudeId)).toBe(false)

      // then a getFile whose JSON is not {"cid": string}, then a message type that does not exist:
      // its reputation is spent, it is banned and refused from now on
      for (const bad of [frame(2, '{"cid":5}'), Uint8Array.of(7)]) {
        // each offence closes the connection: dial afresh once the old one is gone
        await vi.waitFor(() => expect(rude.libp2p.getConnections(peerIdFromString(d.peerId))).toHaveLength(0), { timeout: 10_000 })
        const stream = await rude.libp2p.dialProtocol(multiaddr(addrOf(d)), PROTOCOL)
        stream.send(bad)
        expect(await readAll(stream).catch(() => Buffer.alloc(0))).toHaveLength(0)
      }
      await vi.waitFor(() => expect(d.core.stores.reputation.isBanned(rudeId)).toBe(true), { timeout: 10_000 })
      await expect(rude.libp2p.dialProtocol(multiaddr(addrOf(d)), PROTOCOL)).rejects.toThrow()
    } finally {
      await rude.stop()
    }
  })

  it('cuts off a peer whose reply to our getFileList is oversized', async () => {
    const liar = await rawPeer()
    try {
      await liar.libp2p.handle(PROTOCOL, (stream) => {
        stream.send(Uint8Array.of(1, 0x7f, 0xff, 0xff, 0xff))
      })
      const liarId = liar.libp2p.peerId.toString()
      await d.core.nodes.handle('peer-a').libp2p.peerStore.merge(liar.libp2p.peerId, { multiaddrs: liar.libp2p.getMultiaddrs() })
      await expect(c.call('listfiles', { peerid: liarId })).rejects.toMatchObject({
        code: 500,
        message: expect.stringContaining('over the limit'),
      })
      expect(d.core.stores.reputation.score(liarId)).toBeLessThan(0)
      await vi.waitFor(() => expect(liar.libp2p.getConnections(peerIdFromString(d.peerId))).toHaveLength(0), { timeout: 10_000 })
    } finally {
      await liar.stop()
    }
  })
})
