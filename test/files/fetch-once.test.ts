import { createHash } from 'node:crypto'
import fsp from 'node:fs/promises'
import { syncBuiltinESMExports } from 'node:module'
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { addrOf, authHeaders, connected, noise } from './support.ts'

const MiB = 1024 * 1024

/**
 * What the daemons' block files go through while a test runs: for each block (by multihash), how
 * many puts ran at once at most, and every rename that failed. blockstore-fs writes a block with
 * steno (a temporary file, then a rename); two puts of one block at once make the second rename
 * fail, and steno retries it 10 times, 100 ms apart: the GET waited a second for that.
 */
function watchBlockWrites() {
  const running = new Map<string, number>()
  const most = new Map<string, number>()
  const failedRenames: string[] = []
  const put = FsBlockstore.prototype.put
  const spy = vi.spyOn(FsBlockstore.prototype, 'put').mockImplementation(async function (this: FsBlockstore, key: CID, ...rest) {
    const id = key.toString()
    running.set(id, (running.get(id) ?? 0) + 1)
    most.set(id, Math.max(most.get(id) ?? 0, running.get(id) ?? 0))
    try {
      return await put.call(this, key, ...rest)
    } finally {
      running.set(id, (running.get(id) ?? 1) - 1)
    }
  })
  // steno takes `rename` from node:fs/promises as a named import: the builtin's exports are synced
  const rename = fsp.rename
  fsp.rename = async (from, to) => {
    try {
      return await rename(from, to)
    } catch (err) {
      failedRenames.push(`${String(to)}: ${(err as NodeJS.ErrnoException).code}`)
      throw err
    }
  }
  syncBuiltinESMExports()
  return {
    /** Blocks that were being written by two puts at once. */
    writtenTwiceAtOnce: () => [...most].filter(([, n]) => n > 1).map(([id]) => id),
    failedRenames,
    restore() {
      spy.mockRestore()
      fsp.rename = rename
      syncBuiltinESMExports()
    },
  }
}

async function sha256Of(res: Response): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk)
  return hash.digest('hex')
}

describe('GET /ipfs of a file on another daemon (blocks on disk)', () => {
  let a: TestDaemon
  let b: TestDaemon

  beforeAll(async () => {
    a = await startTestDaemon()
    b = await startTestDaemon({ bootstrap: [addrOf(a)] })
    await vi.waitFor(() => expect(connected(b, a)).toBe(true), { timeout: 30_000, interval: 50 })
  })
  afterAll(async () => {
    await Promise.all([a, b].map((d) => d?.destroy()))
  })

  /** A file of `size` bytes stored on A; its CID and sha256. */
  async function storeOnA(path: string, size: number, seed: number): Promise<{ cid: string; sha256: string }> {
    const content = noise(size, seed)
    const put = await fetch(`${a.origin}/files/peer-a/${path}`, { method: 'PUT', body: content, headers: authHeaders(a) })
    expect(put.status).toBe(200)
    const { fileCid } = (await put.json()) as { fileCid: string }
    return { cid: fileCid, sha256: createHash('sha256').update(content).digest('hex') }
  }

  /** GET /ipfs of `file` on B: the right bytes, and no block written twice at once (nor a failed rename). */
  const getWritingOnce = async (file: { cid: string; sha256: string }) => {
    const writes = watchBlockWrites()
    try {
      const res = await fetch(`${b.origin}/ipfs/${file.cid}`, { headers: authHeaders(b) })
      expect(res.status).toBe(200)
      expect(await sha256Of(res)).toBe(file.sha256)
      expect(writes.failedRenames).toEqual([])
      expect(writes.writtenTwiceAtOnce()).toEqual([])
    } finally {
      writes.restore()
    }
  }

  // the type sniff and the body read the first block at once, the body's two windows the block at
  // 8 MiB: each block fetched once, then written once (a second write at once waited ~1 s)
  it('writes each fetched block once, though the sniff and the body windows read some of them at once', async () => {
    await getWritingOnce(await storeOnA('fetch-once/a.bin', 9 * MiB + 12345, 1))
  })

  it('after a HEAD (root and first block held), the body windows write their shared block once', async () => {
    const file = await storeOnA('fetch-once/b.bin', 10 * MiB, 2)
    const head = await fetch(`${b.origin}/ipfs/${file.cid}`, { method: 'HEAD', headers: authHeaders(b) })
    expect(head.status).toBe(200)
    await getWritingOnce(file)
  })
})
