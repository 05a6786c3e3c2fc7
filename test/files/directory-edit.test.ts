import { type UnixFS, unixfs } from '@helia/unixfs'
import { MemoryBlockstore } from 'blockstore-core'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type EditContext, fileBytesAt, setPath } from '../../src/actors/files/directory-edit.ts'
import { PathConflictError } from '../../src/actors/files/errors.ts'
import { decodeNode, walkBlocks } from '../../src/p2p/files/directory.ts'
import { noise } from './support.ts'

/**
 * setPath edits plain directories itself (no read-back of the file, the new nodes written side by
 * side): the tree it makes must be the one @helia/unixfs's `cp` made before, CID for CID. The
 * reference below is the edit as it was, through stat and cp.
 */

async function referenceSetPath(fs: UnixFS, threshold: number, dir: CID, names: string[], file: CID | undefined): Promise<CID> {
  const [name, ...rest] = names as [string, ...string[]]
  let existing: { cid: CID; type: string } | undefined
  try {
    existing = await fs.stat(dir, { path: name, offline: true })
  } catch {
    existing = undefined
  }
  const link = (child: CID, into: CID) => fs.cp(child, into, name, { force: true, offline: true, shardSplitThresholdBytes: threshold })
  if (rest.length === 0) {
    if (file === undefined && existing?.type === 'directory') return dir
    return link(file ?? (await fs.addDirectory()), dir)
  }
  const sub = existing?.cid ?? (await fs.addDirectory())
  const updated = await referenceSetPath(fs, threshold, sub, rest, file)
  if (existing !== undefined && updated.equals(existing.cid)) return dir
  return link(updated, dir)
}

/** One store edited both ways: the reference's blocks and ours land side by side. */
function setup(threshold = 256 * 1024) {
  const blocks = new MemoryBlockstore()
  const fs = unixfs({ blockstore: blocks })
  const puts: string[] = []
  const counted = {
    get: blocks.get.bind(blocks),
    has: blocks.has.bind(blocks),
    put: async (cid: CID, bytes: Uint8Array) => {
      puts.push(cid.toString())
      return blocks.put(cid, bytes)
    },
  }
  const writer = unixfs({ blockstore: counted })
  const ctx = (rawSize?: (cid: CID) => number | undefined): EditContext => ({
    writer,
    blocks: counted,
    get: (cid) => toBuffer(blocks.get(cid)),
    shardSplitThresholdBytes: threshold,
    ...(rawSize === undefined ? {} : { rawSize }),
  })
  /** Every block under `root` is held. */
  const complete = async (root: CID) => {
    const all: CID[] = []
    await walkBlocks(root, (cid) => toBuffer(blocks.get(cid)), all)
    return all.length
  }
  return { fs, ctx, puts, complete, threshold }
}

describe('setPath', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('makes the tree cp made: new parents, a raw file, a UnixFS file, a replacement, a directory', async () => {
    const { fs, ctx, complete, threshold } = setup()
    const empty = await fs.addDirectory()
    const small = await fs.addBytes(noise(1000, 1))
    const large = await fs.addBytes(noise(1536 * 1024, 2))
    expect(small.code).toBe(0x55)
    expect(large.code).toBe(0x70)
    let mine = empty
    let theirs = empty
    const steps: Array<[string[], CID | undefined]> = [
      [['a', 'b', 'small.bin'], small],
      [['a', 'large.bin'], large],
      [['a', 'b', 'small.bin'], large],
      [['c'], undefined],
      [['a', 'b'], undefined],
      [['a', 'b', 'd', 'e'], undefined],
      [['top.bin'], small],
    ]
    for (const [names, file] of steps) {
      const edited = await setPath(ctx(), mine, names, file)
      mine = edited.root
      theirs = await referenceSetPath(fs, threshold, theirs, names, file)
      expect(mine.toString(), names.join('/')).toBe(theirs.toString())
      if (file !== undefined) expect(edited.cid.toString()).toBe(file.toString())
      expect(await complete(mine)).toBeGreaterThan(0)
    }
  })

  it('links a file it was told the size of without reading it', async () => {
    const { fs, ctx, threshold } = setup()
    const empty = await fs.addDirectory()
    const bytes = noise(1000, 3)
    const file = await fs.addBytes(bytes)
    const reads: string[] = []
    const base = ctx(() => bytes.length)
    const watched: EditContext = {
      ...base,
      get: (cid, signal) => {
        reads.push(cid.toString())
        return base.get(cid, signal)
      },
    }
    const { root } = await setPath(watched, empty, ['x', 'f.bin'], file)
    expect(reads).not.toContain(file.toString())
    expect(root.toString()).toBe((await referenceSetPath(fs, threshold, empty, ['x', 'f.bin'], file)).toString())
  })

  it('keeps the directory an mtime stamps the same way cp does', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-02T03:04:05.678Z'))
    const { fs, ctx, threshold } = setup()
    const stamped = await fs.addDirectory({ mtime: { secs: 1000n, nsecs: 5 } })
    const file = await fs.addBytes(noise(500, 4))
    const { root } = await setPath(ctx(), stamped, ['f.bin'], file)
    expect(root.toString()).toBe((await referenceSetPath(fs, threshold, stamped, ['f.bin'], file)).toString())
    const meta = decodeNode(root, await ctx().get(root))
    expect(meta.unixfs?.mtime?.secs).toBe(BigInt(Math.floor(new Date('2026-01-02T03:04:05.678Z').getTime() / 1000)))
  })

  it('turns a directory into a HAMT shard past the threshold, and edits the shard, as cp does', async () => {
    const { fs, ctx, complete, threshold } = setup(400)
    const file = await fs.addBytes(noise(300, 5))
    let mine = await fs.addDirectory()
    let theirs = mine
    for (let i = 0; i < 20; i++) {
      const names = ['many', `file-${i}.bin`]
      mine = (await setPath(ctx(), mine, names, file)).root
      theirs = await referenceSetPath(fs, threshold, theirs, names, file)
      expect(mine.toString(), names.join('/')).toBe(theirs.toString())
    }
    const many = await fs.stat(mine, { path: 'many' })
    expect(decodeNode(many.cid, await ctx().get(many.cid)).kind).toBe('hamt')
    expect(await complete(mine)).toBeGreaterThan(20)
    // a replacement inside the shard, and a new subdirectory under it
    for (const names of [
      ['many', 'file-3.bin'],
      ['many', 'sub', 'deep.bin'],
    ]) {
      mine = (await setPath(ctx(), mine, names, file)).root
      theirs = await referenceSetPath(fs, threshold, theirs, names, file)
      expect(mine.toString(), names.join('/')).toBe(theirs.toString())
    }
  })

  it('a file in the way of a parent is a conflict (409)', async () => {
    const { fs, ctx } = setup()
    const file = await fs.addBytes(noise(100, 6))
    const { root } = await setPath(ctx(), await fs.addDirectory(), ['f'], file)
    await expect(setPath(ctx(), root, ['f', 'g'], file)).rejects.toBeInstanceOf(PathConflictError)
  })

  it('every block of the new tree is written before setPath returns', async () => {
    const { fs, ctx, puts } = setup()
    const file = await fs.addBytes(noise(100, 7))
    const before = puts.length
    const { root } = await setPath(ctx(), await fs.addDirectory(), ['a', 'b', 'c', 'f'], file)
    // the new nodes (a, b, c and the root; empty directories made on the way are written by the importer)
    expect(puts.length - before).toBeGreaterThanOrEqual(4)
    expect(puts).toContain(root.toString())
  })
})

describe('fileBytesAt', () => {
  it("is what stat says a file's size is: raw, UnixFS, none, a directory, a file in the way", async () => {
    const { fs, ctx } = setup()
    const raw = await fs.addBytes(noise(1234, 8))
    const big = await fs.addBytes(noise(1536 * 1024, 9))
    let root = await fs.addDirectory()
    root = (await setPath(ctx(), root, ['d', 'raw.bin'], raw)).root
    root = (await setPath(ctx(), root, ['d', 'big.bin'], big)).root
    expect(await fileBytesAt(ctx(), root, ['d', 'raw.bin'])).toBe(1234)
    expect(await fileBytesAt(ctx(), root, ['d', 'big.bin'])).toBe(1536 * 1024)
    expect(await fileBytesAt(ctx(), root, ['d', 'none.bin'])).toBe(0)
    expect(await fileBytesAt(ctx(), root, ['d'])).toBe(0)
    expect(await fileBytesAt(ctx(), root, ['d', 'raw.bin', 'under'])).toBe(0)
    for (const path of ['d/raw.bin', 'd/big.bin'])
      expect(Number((await fs.stat(root, { path })).size)).toBe(await fileBytesAt(ctx(), root, path.split('/')))
    expect(big.code).toBe(0x70)
  })
})
