import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { addrOf, BIG_FRAMES, connected, dagBlocks, getFile, hasBlock, listFiles, noise, store, type Stored } from './support.ts'

/**
 * A has files; B and C bootstrap from A (so they are connected to it); D knows A's address but is
 * not connected, so bitswap cannot reach A and only the fallback peer can help.
 */
describe('files between daemons on loopback', () => {
  let a: TestDaemon
  let b: TestDaemon
  let c: TestDaemon
  let ca: SwitchboardClient
  let cb: SwitchboardClient
  let cc: SwitchboardClient
  let page: Stored
  let big: Stored
  const bigContent = noise(2_500_000, 99)

  beforeAll(async () => {
    a = await startTestDaemon({ ...BIG_FRAMES, fileUpdateNotifyTopic: 'file-updates' })
    ;[b, c] = await Promise.all([
      startTestDaemon({ ...BIG_FRAMES, bootstrap: [addrOf(a)] }),
      startTestDaemon({ ...BIG_FRAMES, bootstrap: [addrOf(a)] }),
    ])
    ;[ca, cb, cc] = await Promise.all([a.client(), b.client(), c.client()])
    page = await store(ca, 'site/index.html', '<html><body>from A</body></html>')
    await store(ca, 'site/style.css', 'body { color: red }')
    big = await store(ca, 'media/big.bin', bigContent)
    await store(cc, 'c-only.txt', 'this is C')
    await vi.waitFor(() => expect(connected(b, a) && connected(c, a)).toBe(true), { timeout: 30_000, interval: 50 })
  })
  afterAll(async () => {
    await Promise.all([a, b, c].map((d) => d?.destroy()))
  })

  it("lists another daemon's files exactly as it lists them itself", async () => {
    const own = await listFiles(ca, a.peerId)
    const remote = await listFiles(cb, a.peerId)
    expect(remote).toEqual(own)
    expect(remote.entries['site/index.html']).toEqual({ type: 'file', cid: page.fileCid, mimeType: 'text/html; charset=utf-8' })
  })

  it('answers concurrent listfiles for different peers each with its own list', async () => {
    await store(cb, 'b-only.txt', 'this is B')
    const seen = new Map<string, string[]>()
    cb.on<{ peerid: string; entries: Record<string, unknown> }>('peerFiles', (p) => seen.set(p.peerid, Object.keys(p.entries).sort()))
    await Promise.all([a.peerId, c.peerId, b.peerId, a.peerId].map((peerid) => cb.call('listfiles', { peerid })))
    expect(seen.get(a.peerId)).toEqual(['media', 'media/big.bin', 'site', 'site/index.html', 'site/style.css'])
    expect(seen.get(c.peerId)).toEqual(['c-only.txt'])
    expect(seen.get(b.peerId)).toEqual(['b-only.txt'])
  })

  it('gets a file and a directory of another daemon over bitswap', async () => {
    const got = await getFile(cb, big.fileCid)
    expect(got.success).toBe(true)
    expect(Buffer.from((got.content as { content: string }).content, 'base64').equals(Buffer.from(bigContent))).toBe(true)
    const site = (await listFiles(cb, a.peerId)).entries.site!.cid
    const dir = await getFile(cb, site)
    expect(dir.content).toEqual({ type: 'directory', entries: { 'index.html': page.fileCid, 'style.css': expect.any(String) } })
    // and over HTTP, streamed from A through B
    const http = await fetch(`${b.origin}/ipfs/${page.fileCid}`, { headers: { authorization: `Bearer ${b.token}` } })
    expect(http.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await http.text()).toBe('<html><body>from A</body></html>')
  })

  it('fails listfiles of an unreachable peer with an error instead of silence', async () => {
    const stranger = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
    const err = await cb.call('listfiles', { peerid: stranger }).then(
      () => undefined,
      (e: { code: number; message: string }) => e,
    )
    expect(err).toMatchObject({ message: expect.stringContaining(stranger) })
    expect([500, 504]).toContain(err?.code)
  })

  it('publishes a file update on the configured topic when the peer is subscribed', async () => {
    await Promise.all([ca.call('subscribe', { topic: 'file-updates' }), cb.call('subscribe', { topic: 'file-updates' })])
    const heard = cb.waitFor<{ topic: string; peerid: string; data: unknown }>('topicData', (p) => p.topic === 'file-updates', 30_000)
    await store(ca, 'notify/me.txt', 'news')
    expect(await heard).toEqual({ topic: 'file-updates', peerid: a.peerId, data: { type: 'p2p-webapp-file-update', peer: a.peerId } })
  })

  describe('with a fallback peer', () => {
    let d: TestDaemon
    let cd: SwitchboardClient

    beforeAll(async () => {
      // D is not connected to A, so bitswap finds nothing; it only knows A's address for the fallback
      d = await startTestDaemon({ ...BIG_FRAMES, getFileTimeoutMs: 500 })
      cd = await d.client()
      await d.core.nodes.handle('peer-a').libp2p.peerStore.merge(peerIdFromString(a.peerId), { multiaddrs: [multiaddr(addrOf(a))] })
    })
    afterAll(async () => {
      await d?.destroy()
    })

    it('gets a file through the fallback peer, verifies and caches every block of it', async () => {
      expect(connected(d, a)).toBe(false)
      // on its own D cannot get it: neither its blocks nor bitswap have it
      expect((await getFile(cd, big.fileCid)).success).toBe(false)
      const got = await getFile(cd, big.fileCid, a.peerId)
      expect(got.success).toBe(true)
      expect(got.content).toMatchObject({ type: 'file', mimeType: 'application/octet-stream' })
      expect(Buffer.from((got.content as { content: string }).content, 'base64').equals(Buffer.from(bigContent))).toBe(true)
      // the root and its three 1 MiB leaves are now held by D: it serves the file itself
      for (const block of await dagBlocks(a, big.fileCid)) expect(await hasBlock(d, block)).toBe(true)
      await d.core.nodes.handle('peer-a').libp2p.hangUp(peerIdFromString(a.peerId))
      const again = await getFile(cd, big.fileCid)
      expect(again.success).toBe(true)
    })

    it('gets a directory through the fallback peer', async () => {
      const site = (await listFiles(ca, a.peerId)).entries.site!.cid
      await d.core.nodes.handle('peer-a').libp2p.hangUp(peerIdFromString(a.peerId))
      const got = await getFile(cd, site, a.peerId)
      expect(got.content).toEqual({ type: 'directory', entries: { 'index.html': page.fileCid, 'style.css': expect.any(String) } })
      expect(await hasBlock(d, site)).toBe(true)
    })

    it('reports, in gotFile, a CID neither the network nor the fallback peer has', async () => {
      const missing = CID.create(1, raw.code, await sha256.digest(noise(100, Date.now()))).toString()
      const got = await getFile(cd, missing, a.peerId)
      expect(got.success).toBe(false)
      expect((got.content as { error: string }).error).toMatch(/fallback peer .*file not found/)
      // without a fallback peer the answer is a failure too, after the stall timeout
      expect((await getFile(cd, missing)).success).toBe(false)
    })
  })
})
