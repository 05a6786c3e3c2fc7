import { join } from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FsBlockstoreWritingOnce } from '../../src/p2p/fs-blockstore.ts'
import { noise } from '../files/support.ts'
import { useTempDir } from '../support/temp-dir.ts'

const dir = useTempDir('sb-fs-blockstore-')
let n = 0

async function open(): Promise<FsBlockstoreWritingOnce> {
  const store = new FsBlockstoreWritingOnce(join(dir(), `store-${n++}`))
  await store.open()
  return store
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
})
