import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GcReport } from '../../src/actors/files/file-store.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import {
  addrOf,
  authHeaders,
  b64,
  blocksOf,
  connected,
  dagBlocks,
  hasBlock,
  eventually,
  noise,
  openPut,
  type Stored,
  storedKeys,
  unreferencedBlocks,
} from './support.ts'
import { abortedPut, abortedUploadsChurn } from './upload-churn.ts'

const MiB = 1024 * 1024
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

async function put(d: TestDaemon, path: string, body: Uint8Array<ArrayBuffer>): Promise<Stored> {
  const res = await fetch(`${d.origin}/files/${path}`, { method: 'PUT', headers: authHeaders(d), body })
  expect(res.status, await res.clone().text()).toBe(200)
  return (await res.json()) as Stored
}

async function getBytes(d: TestDaemon, path: string): Promise<Uint8Array> {
  const res = await fetch(`${d.origin}/${path}`, { headers: authHeaders(d) })
  expect(res.status, path).toBe(200)
  return new Uint8Array(await res.arrayBuffer())
}

/** Blocks in the store now that were not in `before` (a count that the collector cannot move back). */
async function newBlocks(d: TestDaemon, before: Set<string>): Promise<number> {
  return [...(await storedKeys(d))].filter((k) => !before.has(k)).length
}

/** Send part of a 40 MiB PUT, until the daemon has written blocks of it, then hang up. */
async function abortedLargePut(d: TestDaemon, path: string, seed: number): Promise<void> {
  const before = await storedKeys(d)
  // the importer writes leaves in batches of ten 1 MiB chunks: send until some are on disk
  await abortedPut(d, `/files/peer-a/${path}`, 40 * MiB, seed * 100, async () => (await newBlocks(d, before)) >= 3)
  expect(await newBlocks(d, before)).toBeGreaterThanOrEqual(3)
}

describe('uploads on the default configuration (every default transport, on loopback)', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon({ listen: LOOPBACK_DEFAULT_LISTEN })
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('three aborted large PUTs leave no block behind once the collector has run', async () => {
    const kept = await put(d, 'peer-a/kept.bin', noise(3 * MiB, 1))
    const baseline = await storedKeys(d)
    expect(await unreferencedBlocks(d)).toEqual([])
    for (const seed of [2, 3, 4]) await abortedLargePut(d, `aborted-${seed}.bin`, seed)
    // each abort asks for a collection: no call from here, only waiting for the blocks to go
    const left = await eventually(
      () => unreferencedBlocks(d),
      (u) => u.length === 0,
    )
    expect(left).toEqual([])
    expect([...(await storedKeys(d))].sort()).toEqual([...baseline].sort())
    expect(sha(await getBytes(d, 'files/peer-a/kept.bin'))).toBe(sha(noise(3 * MiB, 1)))
    expect(sha(await getBytes(d, `ipfs/${kept.fileCid}`))).toBe(sha(noise(3 * MiB, 1)))
  })

  it('GET /ipfs of a CID nobody has answers 504 once getFileTimeoutMs passes without a block', async () => {
    const absent = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    const started = Date.now()
    const res = await fetch(`${d.origin}/ipfs/${absent}`, { headers: authHeaders(d) })
    expect(res.status).toBe(504)
    expect(((await res.json()) as { error: string }).error).toContain('getFileTimeoutMs')
    // the default stall timeout is 3 s; the answer does not wait for anything longer
    expect(Date.now() - started).toBeLessThan(d.core.config.getFileFallbackTimeoutMs)
    const head = await fetch(`${d.origin}/ipfs/${absent}`, { method: 'HEAD', headers: authHeaders(d) })
    expect(head.status).toBe(504)
  })

  it('HEAD answers the headers GET would, with the real content-length and no body', async () => {
    const content = noise(2 * MiB + 123, 9)
    const stored = await put(d, 'peer-a/head/data.bin', content)
    for (const path of ['files/peer-a/head/data.bin', `ipfs/${stored.fileCid}`]) {
      const get = await fetch(`${d.origin}/${path}`, { headers: authHeaders(d) })
      await get.arrayBuffer()
      const head = await fetch(`${d.origin}/${path}`, { method: 'HEAD', headers: authHeaders(d) })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(content.length))
      for (const h of ['content-type', 'etag', 'accept-ranges', 'content-length']) expect(head.headers.get(h), h).toBe(get.headers.get(h))
      expect((await head.arrayBuffer()).byteLength).toBe(0)
    }
    const range = await fetch(`${d.origin}/files/peer-a/head/data.bin`, {
      method: 'HEAD',
      headers: authHeaders(d, { range: 'bytes=100-199' }),
    })
    expect(range.status).toBe(206)
    expect(range.headers.get('content-length')).toBe('100')
    expect(range.headers.get('content-range')).toBe(`bytes 100-199/${content.length}`)
  })
})

describe('upload limits', () => {
  let d: TestDaemon
  beforeAll(async () => {
    // frames large enough to carry a file over fileMaxBytes, so storefile meets the file limit itself
    d = await startTestDaemon({ fileMaxBytes: MiB, filePeerQuotaBytes: 2 * MiB, fileUploadIdleMs: 500, maxFrameBytes: 4 * MiB })
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('closes a stalled PUT after the idle timeout with 408 naming it', async () => {
    const upload = openPut(d, '/files/peer-a/stalled.bin', { 'content-length': 100_000 })
    await upload.write(noise(1000, 1))
    const res = await upload.response
    expect(res.status).toBe(408)
    expect(JSON.parse(res.body)).toEqual({ error: expect.stringContaining('fileUploadIdleMs') })
    expect(res.headers.connection).toBe('close')
    await upload.closed
    expect((await fetch(`${d.origin}/files/peer-a/stalled.bin`, { headers: authHeaders(d) })).status).toBe(404)
  })

  it('refuses a file over fileMaxBytes with 413: by content-length up front, while streaming, and over the WebSocket', async () => {
    const declared = openPut(d, '/files/peer-a/big.bin', { 'content-length': 2 * MiB })
    declared.req.flushHeaders()
    const early = await declared.response
    expect(early.status).toBe(413)
    expect(JSON.parse(early.body).error).toContain('fileMaxBytes')

    // no content-length: the limit is met as the bytes come
    const chunked = openPut(d, '/files/peer-a/big.bin', { 'transfer-encoding': 'chunked' })
    let sent = 0
    let answered = false
    void chunked.response.then(() => (answered = true))
    while (!answered && sent < 8 * MiB) {
      await chunked.write(noise(64 * 1024, sent)).catch(() => {})
      sent += 64 * 1024
    }
    const streamed = await chunked.response
    expect(streamed.status).toBe(413)
    expect(JSON.parse(streamed.body).error).toContain('fileMaxBytes')

    const c = await d.client()
    await expect(c.call('storefile', { path: 'ws-big.bin', content: b64(noise(MiB + 1, 5)), directory: false })).rejects.toMatchObject({
      code: 413,
      message: expect.stringContaining('fileMaxBytes'),
    })
    expect((await fetch(`${d.origin}/files/peer-a/big.bin`, { headers: authHeaders(d) })).status).toBe(404)
    expect(
      await eventually(
        () => unreferencedBlocks(d),
        (u) => u.length === 0,
      ),
    ).toEqual([])
  })

  it("refuses what would take a peer's directory over filePeerQuotaBytes with 413, and lets replacements and removals through", async () => {
    const c = await d.client()
    await put(d, 'peer-a/q/a.bin', noise(800_000, 1))
    await put(d, 'peer-a/q/b.bin', noise(800_000, 2))
    // 1.6 MB held of 2 MiB: 600 kB more is over
    const err = await c
      .call('storefile', { path: 'q/c.bin', content: b64(noise(600_000, 3)), directory: false })
      .catch((e: { code: number; message: string }) => e)
    expect(err).toMatchObject({ code: 413, message: expect.stringContaining('filePeerQuotaBytes') })
    const declared = openPut(d, '/files/peer-a/q/c.bin', { 'content-length': 600_000 })
    declared.req.flushHeaders()
    const res = await declared.response
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body).error).toContain('quota')
    // the same size again in place of a.bin fits: what it replaces does not count
    await put(d, 'peer-a/q/a.bin', noise(800_000, 4))
    await c.call('removefile', { path: 'q/b.bin' })
    const stored = await c.call<Stored>('storefile', { path: 'q/c.bin', content: b64(noise(600_000, 3)), directory: false })
    expect(stored.fileCid).toMatch(/^baf/)
    expect(sha(await getBytes(d, 'files/peer-a/q/c.bin'))).toBe(sha(noise(600_000, 3)))
    // the session peers of this daemon have a quota each
    const tab = await d.client()
    await tab.call('peer', {})
    await tab.call('storefile', { path: 'tab.bin', content: b64(noise(700_000, 6)), directory: false })
  })
})

describe('the block collector', () => {
  let d: TestDaemon
  let other: TestDaemon | undefined
  afterAll(async () => {
    await other?.destroy()
    await d?.destroy()
  })

  it('never deletes a live block: directories of every local peer, restored session peers, and an upload in progress', async () => {
    d = await startTestDaemon()
    const dir = d.dataDir
    const files = new Map<string, Uint8Array<ArrayBuffer>>([
      ['peer-a/one.bin', noise(3 * MiB, 11)],
      ['peer-a/deep/er/two.bin', noise(300_000, 12)],
      ['peer-a/small.txt', new TextEncoder().encode('small')],
    ])
    for (const [path, content] of files) await put(d, path, content)
    const tab = await d.client()
    const { peerid, peerkey } = await tab.call<{ peerid: string; peerkey: string }>('peer', {})
    const tabContent = noise(500_000, 13)
    const tabRoot = (await tab.call<Stored>('storefile', { path: 'notes/tab.bin', content: b64(tabContent), directory: false })).rootCid
    await tab.close()
    await d.close()

    d = await startTestDaemon({}, dir)
    // a collection ran at start; the stopped session peer's directory is still counted, so it survived
    const c = await d.client()
    const report = await c.call<GcReport>('files.gc', {})
    expect(report).toMatchObject({ freed: 0, missing: 0, countsRepaired: 0 })
    expect(report.referenced).toBe(report.blocks)
    const tab2 = await d.client()
    await tab2.call('peer', { peerkey, rootDirectory: tabRoot })
    const alias = d.core.nodes.aliasOfPeerId(peerid) as string
    expect(sha(await getBytes(d, `files/${alias}/notes/tab.bin`))).toBe(sha(tabContent))

    // an upload in progress while a collection runs keeps every block it has written
    const late = noise(16 * MiB + 5, 14)
    const before = await storedKeys(d)
    const upload = openPut(d, '/files/peer-a/late.bin', { 'content-length': late.length })
    // the importer writes leaves in batches of ten 1 MiB chunks: send until some are on disk
    let sent = 0
    while (sent < 15 * MiB && (await newBlocks(d, before)) < 2) {
      await upload.write(late.subarray(sent, sent + MiB))
      sent += MiB
    }
    expect(await newBlocks(d, before)).toBeGreaterThanOrEqual(2)
    const during = await c.call<GcReport>('files.gc', {})
    expect(during.freed).toBe(0)
    expect(during.kept).toBeGreaterThanOrEqual(2)
    await upload.write(late.subarray(sent))
    upload.req.end()
    expect((await upload.response).status).toBe(200)
    files.set('peer-a/late.bin', late)

    expect((await c.call<GcReport>('files.gc', {})).freed).toBe(0)
    for (const [path, content] of files) expect(sha(await getBytes(d, `files/${path}`)), path).toBe(sha(content))
    expect(sha(await getBytes(d, `files/${alias}/notes/tab.bin`))).toBe(sha(tabContent))
    expect(await unreferencedBlocks(d)).toEqual([])
  })

  it('reports, for the soak script, an aborted-upload churn that leaves nothing unreferenced', async () => {
    const counts = await abortedUploadsChurn(d, { rounds: 2, seed: 77 })
    expect(counts).toMatchObject({ uploads: 2, kept: 0, unreferenced: 0 })
    expect(counts.blocksAfter).toBe(counts.blocksBefore)
    expect(await unreferencedBlocks(d)).toEqual([])
  })

  it("keeps a running peer's directory even when its counted root is lost", async () => {
    const { Key } = await import('interface-datastore')
    await d.core.nodes.handle('peer-a').datastore.delete(new Key(`/switchboard/files/roots/${d.peerId}`))
    expect((await collect(d)).freed).toBe(0)
    expect(sha(await getBytes(d, 'files/peer-a/one.bin'))).toBe(sha(noise(3 * MiB, 11)))
    // the next change counts the whole directory again; the old root node, counted by nothing, goes
    await put(d, 'peer-a/recount.txt', noise(10, 1))
    expect((await collect(d)).freed).toBe(1)
    expect(await unreferencedBlocks(d)).toEqual([])
    expect(sha(await getBytes(d, 'files/peer-a/one.bin'))).toBe(sha(noise(3 * MiB, 11)))
  })

  it('repairs reference counts that disagree with the directories', async () => {
    const store = d.core.nodes.services('peer-a').files.service.init.store
    const stored = await put(d, 'peer-a/counted.bin', noise(100_000, 21))
    const { CID } = await import('multiformats/cid')
    const cid = CID.parse(stored.fileCid)
    const { Key } = await import('interface-datastore')
    const { blockKey } = await import('../../src/p2p/files/directory.ts')
    await d.core.nodes.handle('peer-a').datastore.put(new Key(`/switchboard/files/refs/${blockKey(cid)}`), new TextEncoder().encode('7'))
    const report = await store.collectGarbage()
    expect(report.countsRepaired).toBe(1)
    expect(await store.refCount(cid)).toBe(1)
  })

  it('keeps fetched blocks as a cache up to fileCacheMaxBytes, evicting the least recently used', async () => {
    other = await startTestDaemon({ fileCacheMaxBytes: 2_500_000, bootstrap: [addrOf(d)] })
    expect(
      await eventually(
        async () => connected(other as TestDaemon, d),
        (ok) => ok,
        30_000,
      ),
    ).toBe(true)
    const contents = [noise(1_100_000, 31), noise(1_100_000, 32), noise(1_100_000, 33)]
    const cids: string[] = []
    for (const [i, content] of contents.entries()) cids.push((await put(d, `peer-a/cache/${i}.bin`, content)).fileCid)
    for (const [i, cid] of cids.entries()) expect(sha(await getBytes(other, `ipfs/${cid}`))).toBe(sha(contents[i] as Uint8Array))
    // the first fetched is the least recently used: 3 x 1.1 MB do not fit in 2.5 MB, so it goes
    const report = await eventually(
      () => collect(other as TestDaemon),
      (r) => r.evicted === 0,
    )
    expect(report.cached).toBeGreaterThan(0)
    const { CID } = await import('multiformats/cid')
    const held = async (cid: string) => (other as TestDaemon).core.nodes.handle('peer-a').blockstore.has(CID.parse(cid))
    expect(await held(cids[0] as string)).toBe(false)
    expect(await held(cids[1] as string)).toBe(true)
    expect(await held(cids[2] as string)).toBe(true)
    expect(await unreferencedBlocks(other)).toEqual([])
    // fetched again, it comes back (from d) and is the most recent now
    expect(sha(await getBytes(other, `ipfs/${cids[0]}`))).toBe(sha(contents[0] as Uint8Array))
    await collect(other)
    expect(await held(cids[0] as string)).toBe(true)
    expect(await held(cids[1] as string)).toBe(false)
  })
})

describe('the periodic collection', () => {
  it('frees an unreferenced block every fileGcIntervalMs, unasked', async () => {
    const d = await startTestDaemon({ fileGcIntervalMs: 1000 })
    try {
      const { CID } = await import('multiformats/cid')
      const raw = await import('multiformats/codecs/raw')
      const { sha256 } = await import('multiformats/hashes/sha2')
      const bytes = noise(1000, 41)
      const orphan = CID.create(1, raw.code, await sha256.digest(bytes))
      await d.core.nodes.handle('peer-a').blockstore.put(orphan, bytes)
      const blocks = d.core.nodes.handle('peer-a').blockstore
      expect(
        await eventually(
          () => Promise.resolve(blocks.has(orphan)),
          (held) => !held,
          30_000,
        ),
      ).toBe(false)
    } finally {
      await d.destroy()
    }
  })
})

const collect = (d: TestDaemon) => d.core.nodes.services('peer-a').files.service.init.store.collectGarbage()

describe('GET /ipfs and a collection in progress', () => {
  it('a client that hangs up while GET /ipfs waits for a collection leaves no hold: the next collection frees the block', async () => {
    const d = await startTestDaemon()
    try {
      const { request } = await import('node:http')
      const { CID } = await import('multiformats/cid')
      const raw = await import('multiformats/codecs/raw')
      const { sha256 } = await import('multiformats/hashes/sha2')
      const store = d.core.nodes.services('peer-a').files.service.init.store
      // pause a real collection inside the store lock: its first block read waits for the test
      const getLocal = store.init.getLocal
      let entered!: () => void
      let open!: () => void
      const inside = new Promise<void>((r) => (entered = r))
      const gate = new Promise<void>((r) => (open = r))
      store.init.getLocal = async (cid, signal) => {
        entered()
        await gate
        return getLocal(cid, signal)
      }
      const collecting = store.collectGarbage()
      await inside
      store.init.getLocal = getLocal
      // a block nothing references, written after that collection listed the store
      const bytes = noise(1000, 51)
      const orphan = CID.create(1, raw.code, await sha256.digest(bytes))
      await blocksOf(d).put(orphan, bytes)

      const url = new URL(d.origin)
      const seen = new Promise<import('node:http').IncomingMessage>((r) => d.app.server.once('request', r))
      const req = request({ host: '127.0.0.1', port: Number(url.port), path: `/ipfs/${orphan}`, headers: authHeaders(d) })
      req.on('error', () => {})
      req.end()
      const serverReq = await seen
      // hang up while the request waits for the collection's lock, and let the daemon see it
      const gone = new Promise((r) => serverReq.socket.once('close', r))
      req.destroy()
      await gone
      open()
      await collecting

      const c = await d.client()
      const freed = await eventually(
        async () => (await c.call<GcReport>('files.gc', {})).freed > 0 || !(await blocksOf(d).has(orphan)),
        (ok) => ok,
        20_000,
      )
      expect(freed).toBe(true)
      expect(await blocksOf(d).has(orphan)).toBe(false)
    } finally {
      await d.destroy()
    }
  })
})

describe("the daemon-wide quota and stopped session peers' directories", () => {
  it("refuses what takes all directories over fileTotalQuotaBytes, and frees a closed tab's directory after sessionRootRetentionMs", async () => {
    // files well under a WebSocket frame (storefile), whatever its default
    const d = await startTestDaemon({ fileTotalQuotaBytes: 1_300_000, sessionRootRetentionMs: 1000, getFileFallbackTimeoutMs: 500 })
    try {
      await put(d, 'peer-a/kept.bin', noise(500_000, 61))
      const tab = await d.client()
      await tab.call('peer', {})
      const tabFile = await tab.call<Stored>('storefile', { path: 't.bin', content: b64(noise(500_000, 62)), directory: false })
      // 1 MB held of 1.3 MB: another tab's 400 kB is over the daemon's total, though within its own quota
      const tab2 = await d.client()
      const { peerid } = await tab2.call<{ peerid: string }>('peer', {})
      const more = noise(400_000, 63)
      await expect(tab2.call('storefile', { path: 'u.bin', content: b64(more), directory: false })).rejects.toMatchObject({
        code: 413,
        message: expect.stringContaining('fileTotalQuotaBytes'),
      })
      const declared = openPut(d, `/files/${d.core.nodes.aliasOfPeerId(peerid)}/u.bin`, { 'content-length': more.length })
      declared.req.flushHeaders()
      const refused = await declared.response
      expect(refused.status).toBe(413)
      expect(JSON.parse(refused.body).error).toContain('fileTotalQuotaBytes')

      // the closed tab's directory counts until sessionRootRetentionMs after it stopped; then a
      // collection drops it and frees its blocks
      const tabBlocks = await dagBlocks(d, tabFile.rootCid)
      await tab.close()
      const c = await d.client()
      const report = await eventually(
        () => c.call<GcReport>('files.gc', {}),
        (r) => r.expired > 0,
        30_000,
      )
      expect(report).toMatchObject({ expired: 1, sessionRoots: 0 })
      expect(report.freed).toBeGreaterThanOrEqual(tabBlocks.length)
      for (const cid of tabBlocks) expect(await hasBlock(d, cid)).toBe(false)
      expect(await unreferencedBlocks(d)).toEqual([])
      // peer-a's directory is never dropped
      expect(sha(await getBytes(d, 'files/peer-a/kept.bin'))).toBe(sha(noise(500_000, 61)))
      // the room it took is free again
      await tab2.call('storefile', { path: 'u.bin', content: b64(more), directory: false })
      // and the expired root cannot be restored: its blocks are gone
      const tab3 = await d.client()
      await expect(tab3.call('peer', { rootDirectory: tabFile.rootCid })).rejects.toMatchObject({
        code: 404,
        message: expect.stringContaining('sessionRootRetentionMs'),
      })
    } finally {
      await d.destroy()
    }
  })
})
