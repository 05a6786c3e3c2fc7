import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SyncProgress } from '../../src/actors/sync/sync.ts'
import { requestBlock, requestRoot, SYNC_PROTOCOL } from '../../src/actors/sync/sync-protocol.ts'
import { blockKey } from '../../src/p2p/files/directory.ts'
import { startTestDaemon, type TestDaemon, tempDir } from '../support/daemon.ts'
import { addrOf, dagBlocks, eventually, getFile, listFiles, noise, storedKeys } from '../files/support.ts'

const MiB = 1024 * 1024

const syncOf = (d: TestDaemon) => d.core.nodes.services('peer-a').sync
const filesOf = (d: TestDaemon) => d.core.nodes.services('peer-a').files.service
const storeOf = (d: TestDaemon) => filesOf(d).init.store

/** Store a file on `d`'s peer-a directly through its files service (no frame limit). */
const put = (d: TestDaemon, path: string, content: Uint8Array) => filesOf(d).storeFile(path, content, false)

/** `from` learns `to`'s loopback address, as a ticket would give it. */
async function teach(from: TestDaemon, to: TestDaemon): Promise<void> {
  await from.core.nodes.handle('peer-a').libp2p.peerStore.merge(peerIdFromString(to.peerId), { multiaddrs: [multiaddr(addrOf(to))] })
}

/** `owner` remembers `peer` as a known peer (as pairing does), without connecting on its own. */
async function know(owner: TestDaemon, peer: TestDaemon): Promise<void> {
  await (await owner.client()).call('peers.update', { peerId: peer.peerId, known: true, autoConnect: false })
}

const keysOf = async (d: TestDaemon, root: string) => new Set((await dagBlocks(d, root)).map(blockKey))

const replicaHolders = async (d: TestDaemon) =>
  Object.fromEntries([...(await storeOf(d).roots('replica:'))].map(([h, r]) => [h, r.toString()]))

/**
 * Only B knows A: B answers A's syncs, while A's peer actors never sync B on their own (a known
 * peer is synced when it connects or tells of a change), so every sync here is the test's and the
 * block counts are exact.
 */
describe('replicas: A syncs B on loopback', () => {
  let a: TestDaemon
  let b: TestDaemon
  let aDir: string

  beforeAll(async () => {
    aDir = await tempDir()
    ;[a, b] = await Promise.all([startTestDaemon({}, aDir), startTestDaemon()])
    await know(b, a)
    await teach(a, b)
    await teach(b, a)
  })
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
    await rm(aDir, { recursive: true, force: true })
  })

  it("fetches a peer's directory into a replica, with progress", async () => {
    await put(b, 'docs/readme.txt', new TextEncoder().encode('hello from B'))
    const big = await put(b, 'media/big.bin', noise(3 * MiB + 5, 1))
    const progress: SyncProgress[] = []
    const result = await syncOf(a).sync(b.peerId, { signal: new AbortController().signal, onProgress: (p) => progress.push(p) })
    const bRoot = filesOf(b).root.toString()
    expect(result.root).toBe(bRoot)
    expect(result.at).toBeGreaterThan(Date.now() - 60_000)
    expect(syncOf(a).replicaRoot(b.peerId)).toBe(bRoot)
    // every block of B's directory was lacking, and each one came over
    const all = await keysOf(b, bRoot)
    expect(result.blocks).toBe(all.size)
    expect(result.bytes).toBeGreaterThan(3 * MiB)
    expect(progress.at(-1)).toEqual({ blocksFetched: all.size, blocksTotal: all.size, bytes: result.bytes })
    for (const p of progress) expect(p.blocksFetched).toBeLessThanOrEqual(p.blocksTotal)
    const held = await storedKeys(a)
    for (const k of all) expect(held.has(k)).toBe(true)
    expect(await replicaHolders(a)).toEqual({ [`replica:${b.peerId}`]: bRoot })
    expect((await storeOf(a).refCount(big.fileCid)) > 0).toBe(true)
  })

  it('a second sync after B changes fetches only the new blocks', async () => {
    const before = await keysOf(a, syncOf(a).replicaRoot(b.peerId) as string)
    await put(b, 'docs/second.txt', new TextEncoder().encode('more from B'))
    await put(b, 'media/more.bin', noise(2 * MiB, 2))
    const bRoot = filesOf(b).root.toString()
    const lacking = [...(await keysOf(b, bRoot))].filter((k) => !before.has(k))
    const heldBefore = await storedKeys(a)
    const expected = lacking.filter((k) => !heldBefore.has(k)).length
    const result = await syncOf(a).sync(b.peerId, { signal: new AbortController().signal })
    expect(result.root).toBe(bRoot)
    // the 2 MiB file (two leaves and its node), the new docs file, and the directories on their paths
    expect(expected).toBeGreaterThanOrEqual(4)
    expect(result.blocks).toBe(expected)
    expect(result.blocks).toBeLessThan((await keysOf(b, bRoot)).size)
    // nothing to fetch when nothing changed
    expect((await syncOf(a).sync(b.peerId, { signal: new AbortController().signal })).blocks).toBe(0)
  })

  it('the collector keeps the replica, and the replica survives a restart of A', async () => {
    const root = syncOf(a).replicaRoot(b.peerId) as string
    const keys = await keysOf(b, root)
    await (await a.client()).call('files.gc', {})
    const held = await storedKeys(a)
    for (const k of keys) expect(held.has(k)).toBe(true)
    // replicas do not count against the local directories' quota
    expect(await storeOf(a).storedBytes()).toBeLessThan(MiB)

    await a.close()
    a = await startTestDaemon({}, aDir)
    expect(syncOf(a).replicaRoot(b.peerId)).toBe(root)
    expect(syncOf(a).replica(b.peerId)).toMatchObject({ blocks: expect.any(Number), at: expect.any(Number) })
    await (await a.client()).call('files.gc', {})
    const after = await storedKeys(a)
    for (const k of keys) expect(after.has(k)).toBe(true)
    await teach(a, b)
    await teach(b, a)
  })

  it('a stranger gets no answer on the sync protocol and loses no reputation', async () => {
    const c = await startTestDaemon()
    try {
      await teach(c, a)
      const libp2p = c.core.nodes.handle('peer-a').libp2p
      const err = await requestRoot(libp2p, peerIdFromString(a.peerId), { timeoutMs: 5_000, onViolation: () => {} }).then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err).toBeInstanceOf(Error)
      expect(a.core.stores.reputation.score(c.peerId)).toBe(0)
      // and C's own sync of A fails the same way, leaving C no replica
      await expect(syncOf(c).sync(a.peerId, { signal: new AbortController().signal })).rejects.toThrow()
      expect(syncOf(c).replicaRoot(a.peerId)).toBeUndefined()
      expect(await replicaHolders(c)).toEqual({})
      // the protocol is there: a known peer gets an answer on the same stream kind
      expect(a.core.nodes.handle('peer-a').libp2p.getProtocols()).toContain(SYNC_PROTOCOL)
    } finally {
      await c.destroy()
    }
  })

  it('an aborted sync of a large directory keeps nothing new and leaves the old replica intact', async () => {
    const old = syncOf(a).replicaRoot(b.peerId) as string
    const oldKeys = await keysOf(b, old)
    for (let i = 0; i < 5; i++) await put(b, `large/part-${i}.bin`, noise(10 * MiB, 100 + i))
    const newKeys = [...(await keysOf(b, filesOf(b).root.toString()))].filter((k) => !oldKeys.has(k))
    const controller = new AbortController()
    const attempt = syncOf(a).sync(b.peerId, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.blocksFetched >= 3) controller.abort(new Error('test abort'))
      },
    })
    await expect(attempt).rejects.toThrow('test abort')
    expect(syncOf(a).replicaRoot(b.peerId)).toBe(old)
    expect(await replicaHolders(a)).toEqual({ [`replica:${b.peerId}`]: old })
    const pins = []
    for await (const pin of a.core.nodes.handle('peer-a').helia.pins.ls()) pins.push(pin)
    expect(pins).toEqual([])
    // nothing holds what it fetched: the collector frees all of it (blocks still in flight may land late)
    const ca = await a.client()
    const left = await eventually(
      async () => {
        await ca.call('files.gc', {})
        const held = await storedKeys(a)
        return newKeys.filter((k) => held.has(k)).length
      },
      (n) => n === 0,
      30_000,
    )
    expect(left).toBe(0)
    const held = await storedKeys(a)
    for (const k of oldKeys) expect(held.has(k)).toBe(true)
    // B drops the large files again: the tests after this one are about replicas, not a 50 MiB
    // transfer (a full re-sync of it right after the aborted one once stalled 30 s under load in CI:
    // see the closing note, an open bug of the sync's bitswap path)
    await filesOf(b).removeFile('large')
  })

  it("B offline: A's listfiles and getfile of B's files answer from the replica", async () => {
    const result = await syncOf(a).sync(b.peerId, { signal: new AbortController().signal })
    const ca = await a.client()
    const cb = await b.client()
    const live = await listFiles(ca, b.peerId)
    expect(live).not.toHaveProperty('source')
    const own = await listFiles(cb, b.peerId)
    expect(live.entries).toEqual(own.entries)
    await b.close()
    await eventually(
      async () => syncOf(a).isConnected(b.peerId),
      (c) => !c,
    )
    const listed = await listFiles(ca, b.peerId)
    expect(listed).toEqual({ peerid: b.peerId, cid: result.root, entries: own.entries, source: 'replica' })
    const readme = listed.entries['docs/readme.txt']
    expect(readme).toMatchObject({ type: 'file', mimeType: 'text/plain; charset=utf-8' })
    const got = await getFile(ca, readme?.cid as string, b.peerId)
    expect(got.success).toBe(true)
    expect(Buffer.from((got.content as { content: string }).content, 'base64').toString()).toBe('hello from B')
  })

  it("dropReplica releases the peer's replica and its blocks go", async () => {
    const root = syncOf(a).replicaRoot(b.peerId) as string
    const keys = await keysOf(a, root)
    await syncOf(a).dropReplica(b.peerId)
    expect(syncOf(a).replicaRoot(b.peerId)).toBeUndefined()
    expect(await replicaHolders(a)).toEqual({})
    await (await a.client()).call('files.gc', {})
    const held = await storedKeys(a)
    expect([...keys].filter((k) => held.has(k))).toEqual([])
    // and listfiles of the offline peer has nothing to answer from
    await expect((await a.client()).call('listfiles', { peerid: b.peerId })).rejects.toThrow()
  })
})

/** X and Y know each other, as paired devices do (their peer actors sync each other on their own). */
describe('change notices and violations between known peers', () => {
  let x: TestDaemon
  let y: TestDaemon

  beforeAll(async () => {
    ;[x, y] = await Promise.all([startTestDaemon(), startTestDaemon()])
    await Promise.all([know(x, y), know(y, x), teach(x, y), teach(y, x)])
  })
  afterAll(async () => {
    await Promise.all([x?.destroy(), y?.destroy()])
  })

  it('a change of Y reaches X as a notice from Y', async () => {
    await syncOf(x).sync(y.peerId, { signal: new AbortController().signal })
    const heard = new Promise<string>((resolve) => {
      const off = syncOf(x).onChanged((peerId) => {
        off()
        resolve(peerId)
      })
    })
    await put(y, 'notes/today.txt', new TextEncoder().encode('changed'))
    expect(await heard).toBe(y.peerId)
    // and a sync of it then brings the new file
    const result = await syncOf(x).sync(y.peerId, { signal: new AbortController().signal })
    expect(result.root).toBe(filesOf(y).root.toString())
    expect(Object.keys((await syncOf(x).listReplica(y.peerId))?.entries ?? {})).toContain('notes/today.txt')
  })

  it("answers a known peer's block request with the bytes it holds, and missing for one it lacks", async () => {
    const stored = await put(y, 'notes/block.bin', noise(1000, 4))
    const libp2p = x.core.nodes.handle('peer-a').libp2p
    const opts = { timeoutMs: 5_000, onViolation: () => {} }
    const bytes = await requestBlock(libp2p, peerIdFromString(y.peerId), stored.fileCid, opts)
    expect(Buffer.from(bytes ?? []).equals(Buffer.from(noise(1000, 4)))).toBe(true)
    const absent = (await put(x, 'only-x.bin', noise(500, 5))).fileCid
    expect(await requestBlock(libp2p, peerIdFromString(y.peerId), absent, opts)).toBeUndefined()
  })

  it('a known peer sending a malformed sync message loses reputation and gets no answer', async () => {
    const before = x.core.stores.reputation.score(y.peerId)
    const stream = await y.core.nodes.handle('peer-a').libp2p.dialProtocol(peerIdFromString(x.peerId), SYNC_PROTOCOL)
    const body = new TextEncoder().encode('{"type":"everything"}')
    const frame = new Uint8Array(4 + body.length)
    new DataView(frame.buffer).setUint32(0, body.length)
    frame.set(body, 4)
    stream.send(frame)
    const after = await eventually(
      async () => x.core.stores.reputation.score(y.peerId),
      (score) => score < before,
    )
    expect(after).toBeLessThan(before - 19)
    const replies: unknown[] = []
    await (async () => {
      for await (const chunk of stream) replies.push(chunk)
    })().catch(() => {})
    expect(replies).toEqual([])
  })
})

describe('where replicas live: replicas.json of the persistent node, memory of a session peer', () => {
  let a: TestDaemon
  let b: TestDaemon
  let aDir: string

  beforeAll(async () => {
    aDir = await tempDir()
    ;[a, b] = await Promise.all([startTestDaemon({}, aDir), startTestDaemon()])
    await put(b, 'shared/photo.bin', noise(MiB + 7, 3))
    await Promise.all([teach(a, b), teach(b, a)])
  })
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
    await rm(aDir, { recursive: true, force: true })
  })

  it("a session peer's replica is held in memory only and let go when the session ends", async () => {
    const tab = await a.client()
    const session = await tab.call<{ peerid: string }>('peer', {})
    await (await b.client()).call('peers.update', { peerId: session.peerid, known: true, autoConnect: false })
    const alias = a.core.nodes.aliasOfPeerId(session.peerid) as string
    const sessionSync = a.core.nodes.services(alias).sync
    await a.core.nodes.handle(alias).libp2p.peerStore.merge(peerIdFromString(b.peerId), { multiaddrs: [multiaddr(addrOf(b))] })
    const result = await sessionSync.sync(b.peerId, { signal: new AbortController().signal })
    expect(sessionSync.replicaRoot(b.peerId)).toBe(result.root)
    // no holder in the store: nothing of it outlives the session
    expect(await replicaHolders(a)).toEqual({})
    const keys = await keysOf(b, result.root)
    const ca = await a.client()
    await ca.call('files.gc', {})
    const held = await storedKeys(a)
    for (const k of keys) expect(held.has(k)).toBe(true)
    await tab.close()
    const left = await eventually(
      async () => {
        await ca.call('files.gc', {})
        const now = await storedKeys(a)
        return [...keys].filter((k) => now.has(k)).length
      },
      (n) => n === 0,
      30_000,
    )
    expect(left).toBe(0)
  })

  it('a corrupt replicas.json is moved aside at start and its holders dropped', async () => {
    await know(b, a)
    const result = await syncOf(a).sync(b.peerId, { signal: new AbortController().signal })
    const storageDir = a.core.nodes.get('peer-a')?.spec.storageDir as string
    expect(await readFile(join(storageDir, 'replicas.json'), 'utf8')).toContain(result.root)
    await a.close()
    await writeFile(join(storageDir, 'replicas.json'), '{"format":"switchboard.replicas","version":1,"sha256":"0","data":[]}\n')
    a = await startTestDaemon({}, aDir)
    expect(syncOf(a).replicaRoot(b.peerId)).toBeUndefined()
    expect(await replicaHolders(a)).toEqual({})
    expect((await readdir(storageDir)).some((f) => f.startsWith('replicas.json.corrupt-'))).toBe(true)
    // and a sync takes a new one
    await teach(a, b)
    await teach(b, a)
    expect((await syncOf(a).sync(b.peerId, { signal: new AbortController().signal })).root).toBe(result.root)
    expect(await replicaHolders(a)).toEqual({ [`replica:${b.peerId}`]: result.root })
  })
})
