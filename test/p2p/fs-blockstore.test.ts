import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FsBlockstoreWritingOnce, SMALL_BLOCK_BYTES, SMALL_CACHE_BYTES } from '../../src/p2p/fs-blockstore.ts'
import { noise } from '../files/support.ts'
import { useTempDir } from '../support/temp-dir.ts'

const dir = useTempDir('sb-fs-blockstore-')
let n = 0

async function open(): Promise<FsBlockstoreWritingOnce> {
  const store = new FsBlockstoreWritingOnce(join(dir(), `store-${n++}`))
  await store.open()
  return store
}

/** A block under dag-pb's codec (the cache looks at the codec and size only, not the content). */
async function dagPbBlock(seed: number, size = 2_000): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = noise(size, seed)
  return { cid: CID.create(1, 0x70, await sha256.digest(bytes)), bytes }
}

async function block(seed: number): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = noise(300_000, seed)
  return { cid: CID.create(1, raw.code, await sha256.digest(bytes)), bytes }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('FsBlockstoreWritingOnce', () => {
  it('writes a block that three puts store at once once, and every put resolves with it', async () => {
    const store = await open()
    const writes = vi.spyOn(FsBlockstore.prototype, 'put')
    const { cid, bytes } = await block(1)
    const other = await block(2)
    const puts = await Promise.all([store.put(cid, bytes), store.put(cid, bytes), store.put(other.cid, other.bytes), store.put(cid, bytes)])
    expect(puts.map(String)).toEqual([cid, cid, other.cid, cid].map(String))
    // one write per block, the two blocks side by side
    expect(writes.mock.calls.map(([key]) => String(key)).sort()).toEqual([String(cid), String(other.cid)].sort())
    expect(Buffer.compare(await toBuffer(store.get(cid)), bytes)).toBe(0)
    // a later put writes again as before (blockstore-fs overwrites the file)
    await store.put(cid, bytes)
    expect(writes).toHaveBeenCalledTimes(3)
  })

  it('a read of a block being written waits for the write and gets its bytes, where it found the block missing before', async () => {
    const store = await open()
    const { cid, bytes } = await dagPbBlock(7)
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const write = FsBlockstore.prototype.put
    vi.spyOn(FsBlockstore.prototype, 'put').mockImplementation(async function (this: FsBlockstore, ...args) {
      await gate
      return write.apply(this, args)
    })
    const put = store.put(cid, bytes)
    let answered = false
    const read = toBuffer(store.get(cid)).finally(() => {
      answered = true
    })
    const has = store.has(cid)
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(answered).toBe(false)
    release()
    await put
    expect(Buffer.compare(await read, bytes)).toBe(0)
    expect(await has).toBe(true)
  })

  it('writes the block itself when the write it waited for failed, and stops at its own abort', async () => {
    const store = await open()
    const { cid, bytes } = await block(3)
    const aborted = AbortSignal.abort()
    const first = store.put(cid, bytes, { signal: aborted })
    const second = store.put(cid, bytes)
    await expect(first).rejects.toThrow()
    await expect(second).resolves.toEqual(cid)
    expect(Buffer.compare(await toBuffer(store.get(cid)), bytes)).toBe(0)

    const other = await block(4)
    const writing = store.put(other.cid, other.bytes)
    const leaving = new AbortController()
    const waiting = store.put(other.cid, other.bytes, { signal: leaving.signal })
    leaving.abort(new Error('left'))
    await expect(waiting).rejects.toThrow('left')
    await expect(writing).resolves.toEqual(other.cid)
  })

  it('answers small dag-pb blocks it wrote or read from memory, the same bytes, until they are deleted', async () => {
    const store = await open()
    const reads = vi.spyOn(FsBlockstore.prototype, 'get')
    const has = vi.spyOn(FsBlockstore.prototype, 'has')
    const dir = await dagPbBlock(10)
    await store.put(dir.cid, dir.bytes)
    expect(Buffer.compare(await toBuffer(store.get(dir.cid)), dir.bytes)).toBe(0)
    expect(await store.has(dir.cid)).toBe(true)
    expect(reads).not.toHaveBeenCalled()
    expect(has).not.toHaveBeenCalled()
    // a reader that changes what it got does not change the cache
    const got = await toBuffer(store.get(dir.cid))
    got.fill(0)
    expect(Buffer.compare(await toBuffer(store.get(dir.cid)), dir.bytes)).toBe(0)

    // read from disk once by a store that did not write it, then from memory
    const other = new FsBlockstoreWritingOnce(store.path)
    await other.open()
    expect(Buffer.compare(await toBuffer(other.get(dir.cid)), dir.bytes)).toBe(0)
    expect(Buffer.compare(await toBuffer(other.get(dir.cid)), dir.bytes)).toBe(0)
    expect(reads).toHaveBeenCalledTimes(1)

    // deleted: gone from memory and disk alike
    await store.delete(dir.cid)
    expect(await store.has(dir.cid)).toBe(false)
    await expect(toBuffer(store.get(dir.cid))).rejects.toThrow()
  })

  it('reads raw leaves and large dag-pb blocks from disk every time, and keeps at most SMALL_CACHE_BYTES', async () => {
    const store = await open()
    const reads = vi.spyOn(FsBlockstore.prototype, 'get')
    const leaf = await block(11)
    const big = await dagPbBlock(12, SMALL_BLOCK_BYTES + 1)
    await store.put(leaf.cid, leaf.bytes)
    await store.put(big.cid, big.bytes)
    for (const b of [leaf, big, leaf, big]) expect(Buffer.compare(await toBuffer(store.get(b.cid)), b.bytes)).toBe(0)
    expect(reads).toHaveBeenCalledTimes(4)

    // more small blocks than the cache holds: the least recently used is read from disk again
    const many = await Promise.all(
      Array.from({ length: SMALL_CACHE_BYTES / SMALL_BLOCK_BYTES + 1 }, (_, i) => dagPbBlock(100 + i, SMALL_BLOCK_BYTES)),
    )
    for (const b of many) await store.put(b.cid, b.bytes)
    reads.mockClear()
    const first = many[0] as { cid: CID; bytes: Uint8Array }
    const last = many.at(-1) as { cid: CID; bytes: Uint8Array }
    expect(Buffer.compare(await toBuffer(store.get(last.cid)), last.bytes)).toBe(0)
    expect(reads).not.toHaveBeenCalled()
    expect(Buffer.compare(await toBuffer(store.get(first.cid)), first.bytes)).toBe(0)
    expect(reads).toHaveBeenCalledTimes(1)
  })
})
