import * as dagPb from '@ipld/dag-pb'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { UnixFS } from 'ipfs-unixfs'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { codeOf } from '../support/peers.ts'
import {
  authHeaders,
  b64,
  BIG_FRAMES,
  blocksOf,
  dagBlocks,
  getFile,
  hasBlock,
  listFiles,
  noise,
  type PeerFiles,
  store,
  type Stored,
} from './support.ts'

describe('files of one daemon: store, list, get, remove', () => {
  let d: TestDaemon
  let c: SwitchboardClient
  let me: string

  beforeAll(async () => {
    d = await startTestDaemon(BIG_FRAMES)
    c = await d.client()
    me = d.peerId
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('stores files and folders, lists them with types and MIME types, and returns their content', async () => {
    const hello = await store(c, 'hello.txt', 'hello world')
    const page = await store(c, '/site/pages/index.html', '<!DOCTYPE html><html><body>hi</body></html>')
    const script = await store(c, 'site/app.js', 'console.log(1)\n')
    const png = await store(c, 'site/logo', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]))
    const list = await listFiles(c, me)
    expect(list.peerid).toBe(me)
    expect(list.cid).toBe(png.rootCid)
    expect(list.entries).toEqual({
      'hello.txt': { type: 'file', cid: hello.fileCid, mimeType: 'text/plain; charset=utf-8' },
      site: { type: 'directory', cid: expect.any(String) },
      'site/pages': { type: 'directory', cid: expect.any(String) },
      'site/pages/index.html': { type: 'file', cid: page.fileCid, mimeType: 'text/html; charset=utf-8' },
      // the bytes say "text", the name says JavaScript
      'site/app.js': { type: 'file', cid: script.fileCid, mimeType: 'text/javascript; charset=utf-8' },
      // no extension: the bytes decide
      'site/logo': { type: 'file', cid: png.fileCid, mimeType: 'image/png' },
    })

    const got = await getFile(c, hello.fileCid)
    expect(got).toEqual({
      cid: hello.fileCid,
      success: true,
      content: { type: 'file', mimeType: 'text/plain; charset=utf-8', content: b64('hello world') },
    })
    const dir = await getFile(c, list.entries.site!.cid)
    expect(dir).toEqual({
      cid: list.entries.site!.cid,
      success: true,
      content: { type: 'directory', entries: { pages: list.entries['site/pages']!.cid, 'app.js': script.fileCid, logo: png.fileCid } },
    })
  })

  it('replaces an existing file; `directory: true` on an existing directory keeps its content', async () => {
    const first = await store(c, 'keep/a.txt', 'one')
    await store(c, 'keep/b.txt', 'two')
    const replaced = await store(c, 'keep/a.txt', 'three')
    expect(replaced.fileCid).not.toBe(first.fileCid)
    const before = await listFiles(c, me)
    const again = await c.call<Stored>('storefile', { path: 'keep', directory: true })
    expect(again.rootCid).toBe(before.cid)
    expect(again.fileCid).toBe(before.entries.keep!.cid)
    const after = await listFiles(c, me)
    expect(after.entries['keep/a.txt']).toMatchObject({ cid: replaced.fileCid })
    expect(after.entries['keep/b.txt']).toBeDefined()
    // a new directory is created empty, with its parents
    const made = await c.call<Stored>('storefile', { path: 'new/empty/dir', directory: true })
    const listed = await listFiles(c, me)
    expect(listed.entries['new/empty/dir']).toEqual({ type: 'directory', cid: made.fileCid })
    expect(Object.keys(listed.entries).filter((p) => p.startsWith('new/empty/dir/'))).toEqual([])
  })

  it('removes a file or a whole subtree; a missing path is 404 and changes nothing', async () => {
    await store(c, 'tree/x/1.txt', '1')
    await store(c, 'tree/x/2.txt', '2')
    await store(c, 'tree/y.txt', 'y')
    await c.call('removefile', { path: 'tree/x' })
    let list = await listFiles(c, me)
    expect(Object.keys(list.entries).filter((p) => p.startsWith('tree'))).toEqual(['tree', 'tree/y.txt'])
    await c.call('removefile', { path: 'tree/y.txt' })
    list = await listFiles(c, me)
    expect(list.entries['tree/y.txt']).toBeUndefined()
    const root = list.cid
    await expect(c.call('removefile', { path: 'tree/nothing-here' })).rejects.toMatchObject({
      code: 404,
      message: expect.stringContaining('tree/nothing-here does not exist'),
    })
    await expect(c.call('removefile', { path: 'hello.txt/below' })).rejects.toMatchObject({ code: 404 })
    expect((await listFiles(c, me)).cid).toBe(root)
  })

  it('refuses bad input with 400/404/409 naming the problem, and leaves the directory unchanged', async () => {
    const before = (await listFiles(c, me)).cid
    const bad: Array<[object, number, string]> = [
      [{ path: '../etc/passwd', content: b64('x'), directory: false }, 400, 'path'],
      [{ path: 'a/../b', content: b64('x'), directory: false }, 400, '".."'],
      [{ path: 'a//b', content: b64('x'), directory: false }, 400, 'empty segment'],
      [{ path: 'a/b/', content: b64('x'), directory: false }, 400, 'empty segment'],
      [{ path: '', content: b64('x'), directory: false }, 400, 'path'],
      [{ path: 'x'.repeat(4097), content: b64('x'), directory: false }, 400, '4096'],
      [{ path: 'ok.txt', content: 'not base64!', directory: false }, 400, 'content: is not valid base64'],
      [{ path: 'ok.txt', content: 'QQ=', directory: false }, 400, 'base64'],
      [{ path: 'ok.txt', directory: false }, 400, 'content'],
      [{ path: 'ok', content: b64('x'), directory: true }, 400, 'directory has no content'],
      [{ path: 'hello.txt/inside.txt', content: b64('x'), directory: false }, 409, 'hello.txt is a file'],
    ]
    for (const [params, code, words] of bad) {
      const err = await c.call('storefile', params).then(
        () => undefined,
        (e: { code: number; message: string }) => e,
      )
      expect(err, JSON.stringify(params).slice(0, 80)).toMatchObject({ code, message: expect.stringContaining(words) })
    }
    await expect(c.call('removefile', { path: '../x' })).rejects.toMatchObject({ code: 400 })
    await expect(c.call('getfile', { cid: 'not-a-cid' })).rejects.toMatchObject({ code: 400, message: expect.stringContaining('cid') })
    await expect(c.call('getfile', { cid: 'bafkqaaa', fallbackPeerID: 'nobody' })).rejects.toMatchObject({
      code: 400,
      message: expect.stringContaining('fallbackPeerID'),
    })
    await expect(c.call('listfiles', { peerid: 'nobody' })).rejects.toMatchObject({ code: 400, message: expect.stringContaining('peerid') })
    expect((await listFiles(c, me)).cid).toBe(before)
  })

  it('lands all of 100 concurrent stores', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store(c, `many/f${i}.txt`, `file ${i}`)))
    const list = await listFiles(c, me)
    const many = Object.entries(list.entries).filter(([p]) => p.startsWith('many/'))
    expect(many).toHaveLength(100)
    for (let i = 0; i < 100; i++) expect(list.entries[`many/f${i}.txt`]?.cid).toBe(results[i]?.fileCid)
    // the last change to land is the root everyone sees now
    expect(results.map((r) => r.rootCid)).toContain(list.cid)
  })

  it('frees the blocks nothing else references: shared content and pinned blocks stay', async () => {
    const content = noise(2_500_000, 7) // three 1 MiB chunks and a root
    const one = await store(c, 'gc/one/first.bin', content)
    const two = await store(c, 'gc/two/second.bin', content)
    expect(two.fileCid).toBe(one.fileCid)
    const fileBlocks = await dagBlocks(d, one.fileCid)
    expect(fileBlocks.length).toBe(4)
    const dirOne = (await listFiles(c, me)).entries['gc/one']!.cid

    await c.call('removefile', { path: 'gc/one' })
    // the directory that only gc/one used is gone; the file, still under gc/two, is kept
    expect(await hasBlock(d, dirOne)).toBe(false)
    for (const b of fileBlocks) expect(await hasBlock(d, b)).toBe(true)

    await c.call('removefile', { path: 'gc/two/second.bin' })
    for (const b of fileBlocks) expect(await hasBlock(d, b)).toBe(false)

    // a Helia pin keeps a block past its last directory reference
    const pinned = await store(c, 'gc/pinned.txt', 'pinned content')
    for await (const _ of d.core.nodes.handle('peer-a').helia.pins.add(CID.parse(pinned.fileCid))) {
      // drain the pin walk
    }
    await c.call('removefile', { path: 'gc/pinned.txt' })
    expect(await hasBlock(d, pinned.fileCid)).toBe(true)
  })

  it('keeps blocks another local peer still uses (one blockstore per daemon)', async () => {
    const tab = await d.client()
    const { peerid } = await tab.call<{ peerid: string }>('peer', {})
    const content = noise(1_500_000, 11)
    const mine = await store(c, 'shared/mine.bin', content)
    const theirs = await store(tab, 'theirs.bin', content)
    expect(theirs.fileCid).toBe(mine.fileCid)
    const blocks = await dagBlocks(d, mine.fileCid)
    expect((await listFiles(tab, peerid)).entries['theirs.bin']?.cid).toBe(mine.fileCid)

    await c.call('removefile', { path: 'shared/mine.bin' })
    for (const b of blocks) expect(await hasBlock(d, b)).toBe(true)
    await tab.call('removefile', { path: 'theirs.bin' })
    for (const b of blocks) expect(await hasBlock(d, b)).toBe(false)
    await tab.close()
  })

  it('serves files over HTTP with the token: PUT streams in, GET streams out with Range and Content-Type', async () => {
    const body = noise(3_000_000, 3)
    const put = await fetch(`${d.origin}/files/peer-a/http/data.bin`, { method: 'PUT', headers: authHeaders(d), body })
    expect(put.status).toBe(200)
    const stored = (await put.json()) as Stored
    expect((await listFiles(c, me)).entries['http/data.bin']?.cid).toBe(stored.fileCid)

    const whole = await fetch(`${d.origin}/files/peer-a/http/data.bin`, { headers: authHeaders(d) })
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-type')).toBe('application/octet-stream')
    expect(whole.headers.get('accept-ranges')).toBe('bytes')
    expect(Buffer.compare(Buffer.from(await whole.arrayBuffer()), Buffer.from(body))).toBe(0)

    const part = await fetch(`${d.origin}/ipfs/${stored.fileCid}`, { headers: authHeaders(d, { range: 'bytes=1048570-1048589' }) })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 1048570-1048589/${body.length}`)
    expect(Buffer.compare(Buffer.from(await part.arrayBuffer()), Buffer.from(body.subarray(1048570, 1048590)))).toBe(0)
    const tail = await fetch(`${d.origin}/ipfs/${stored.fileCid}`, { headers: authHeaders(d, { range: 'bytes=-5' }) })
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(Buffer.from(body.subarray(body.length - 5)))
    const outside = await fetch(`${d.origin}/ipfs/${stored.fileCid}`, { headers: authHeaders(d, { range: `bytes=${body.length}-` }) })
    expect(outside.status).toBe(416)

    const html = await fetch(`${d.origin}/files/peer-a/site/pages/index.html`, { headers: authHeaders(d) })
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const listing = await fetch(`${d.origin}/files/peer-a/site`, { headers: authHeaders(d) })
    expect(await listing.json()).toMatchObject({ entries: { 'app.js': expect.any(String), pages: expect.any(String) } })

    expect((await fetch(`${d.origin}/files/peer-a/http/data.bin`)).status).toBe(401)
    expect((await fetch(`${d.origin}/ipfs/${stored.fileCid}`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect(
      (
        await fetch(`${d.origin}/files/peer-a/http/x.bin`, {
          method: 'PUT',
          headers: authHeaders(d, { origin: 'http://evil.example' }),
          body: 'x',
        })
      ).status,
    ).toBe(403)
    expect((await fetch(`${d.origin}/files/peer-a/http/nope.bin`, { headers: authHeaders(d) })).status).toBe(404)
    expect((await fetch(`${d.origin}/files/peer-zz/a.txt`, { headers: authHeaders(d) })).status).toBe(404)
    // fetch resolves a literal `..` itself; an encoded slash still reaches the path check
    const dotted = await fetch(`${d.origin}/files/peer-a/a%2F..%2Fb`, { method: 'PUT', headers: authHeaders(d), body: 'x' })
    expect(dotted.status).toBe(400)
    expect(await dotted.json()).toEqual({ error: expect.stringContaining('".." segment') })
    expect((await fetch(`${d.origin}/ipfs/not-a-cid`, { headers: authHeaders(d) })).status).toBe(400)

    const del = await fetch(`${d.origin}/files/peer-a/http/data.bin`, { method: 'DELETE', headers: authHeaders(d) })
    expect(del.status).toBe(200)
    expect((await listFiles(c, me)).entries['http/data.bin']).toBeUndefined()
  })

  it('refuses through getfile a file too large for one WebSocket frame, pointing at HTTP', async () => {
    const big = await fetch(`${d.origin}/files/peer-a/huge.bin`, {
      method: 'PUT',
      headers: authHeaders(d),
      body: noise(13 * 1024 * 1024, 5),
    })
    const { fileCid } = (await big.json()) as Stored
    const got = await getFile(c, fileCid)
    expect(got.success).toBe(false)
    expect((got.content as { error: string }).error).toContain(`/ipfs/${fileCid}`)
  })
})

describe('a directory past the shard threshold', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon({ fileShardSplitThresholdBytes: 1024 })
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it('becomes a HAMT shard and still lists, reads and removes every entry', async () => {
    const c = await d.client()
    const stored = await Promise.all(Array.from({ length: 60 }, (_, i) => store(c, `big/entry-${i}.txt`, `entry ${i}`)))
    let list = await listFiles(c, d.peerId)
    const bigDir = CID.parse(list.entries.big!.cid)
    const node = dagPb.decode(await toBuffer(blocksOf(d).get(bigDir)))
    expect(UnixFS.unmarshal(node.Data!).type).toBe('hamt-sharded-directory')
    expect(Object.keys(list.entries).filter((p) => p.startsWith('big/'))).toHaveLength(60)
    const got = await getFile(c, stored[42]!.fileCid)
    expect(got.content).toMatchObject({ content: b64('entry 42') })
    await c.call('removefile', { path: 'big/entry-42.txt' })
    list = await listFiles(c, d.peerId)
    expect(Object.keys(list.entries).filter((p) => p.startsWith('big/'))).toHaveLength(59)
    expect(list.entries['big/entry-42.txt']).toBeUndefined()
    // the shard's directory listing over getfile has real names, not shard prefixes
    const dir = await getFile(c, list.entries.big!.cid)
    expect(Object.keys((dir.content as { entries: Record<string, string> }).entries).sort()).toEqual(
      Array.from({ length: 60 }, (_, i) => `entry-${i}.txt`)
        .filter((n) => n !== 'entry-42.txt')
        .sort(),
    )
  })
})

describe('directories across restarts and sessions', () => {
  it('peer-a finds its directory intact after a restart; a session peer restores its own from rootDirectory', async () => {
    const first = await startTestDaemon()
    const dir = first.dataDir
    let root: PeerFiles
    let sessionRoot: string
    let again: TestDaemon | undefined
    try {
      const c = await first.client()
      await store(c, 'notes/today.md', '# today')
      await store(c, 'photo.jpg', Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]))
      root = await listFiles(c, first.peerId)
      const tab = await first.client()
      const { peerid, peerkey } = await tab.call<{ peerid: string; peerkey: string }>('peer', {})
      sessionRoot = (await store(tab, 'tab.txt', 'from a browser tab')).rootCid
      await first.close()

      again = await startTestDaemon({}, dir)
      const c2 = await again.client()
      const after = await listFiles(c2, again.peerId)
      expect(after).toEqual(root)
      const got = await getFile(c2, after.entries['notes/today.md']!.cid)
      expect(got.content).toMatchObject({ type: 'file', content: b64('# today') })

      // the tab comes back with its key and its saved root: its files are there again
      const tab2 = await again.client()
      await tab2.call('peer', { peerkey, rootDirectory: sessionRoot })
      const restored = await listFiles(tab2, peerid)
      expect(restored.cid).toBe(sessionRoot)
      expect(Object.keys(restored.entries)).toEqual(['tab.txt'])
      // a rootDirectory that is a file is refused
      const tab3 = await again.client()
      expect(await codeOf(tab3.call('peer', { rootDirectory: after.entries['photo.jpg']!.cid }))).toBe(400)
      // and leaves nothing behind: the connection is free to ask for a peer again
      const before = again.core.nodes.aliases().length
      const fresh = await tab3.call<{ peerid: string }>('peer', {})
      expect(again.core.nodes.aliases()).toHaveLength(before + 1)
      expect(again.core.nodes.aliasOfPeerId(fresh.peerid)).toBeDefined()
    } finally {
      await again?.close()
      await first.destroy()
    }
  })

  it('restoreRoot rejects a rootDirectory that does not parse', async () => {
    const d = await startTestDaemon()
    try {
      const key = await generateKeyPair('Ed25519')
      await d.core.nodes.start('peer-q', key, { persistent: false })
      await expect(d.core.nodes.services('peer-q').files.restoreRoot('garbage')).rejects.toMatchObject({
        name: 'InvalidInputError',
        message: expect.stringContaining('rootDirectory'),
      })
      expect(d.core.nodes.services('peer-q').files.service.root.toString()).toMatch(/^bafy/)
    } finally {
      await d.destroy()
    }
  })
})
