import { unixfs } from '@helia/unixfs'
import { MemoryBlockstore } from 'blockstore-core'
import type { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { eagerRawLeaves } from '../../src/actors/files/eager-import.ts'
import { noise } from './support.ts'

const MiB = 1024 * 1024

/** `bytes` as an upload: 64 KiB chunks, as an HTTP body comes. */
async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024)
}

/** A blockstore whose puts wait until `open()`, counting the writes running at once. */
function slowBlockstore() {
  const blocks = new MemoryBlockstore()
  const waiting: Array<() => void> = []
  let running = 0
  let most = 0
  let failNext: Error | undefined
  const store = {
    get: blocks.get.bind(blocks),
    has: blocks.has.bind(blocks),
    put: async (cid: CID, bytes: Uint8Array) => {
      running++
      most = Math.max(most, running)
      await new Promise<void>((resolve) => waiting.push(resolve))
      running--
      const fail = failNext
      failNext = undefined
      if (fail !== undefined) throw fail
      return blocks.put(cid, bytes)
    },
  }
  return {
    store,
    blocks,
    open: () => {
      for (const w of waiting.splice(0)) w()
    },
    waiting: () => waiting.length,
    most: () => most,
    failNextWith: (err: Error) => {
      failNext = err
    },
  }
}

describe('eagerRawLeaves', () => {
  it('imports the same DAG as the default importer, every block written once written() resolves', async () => {
    for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 3.5 * MiB, 11 * MiB + 7]) {
      const bytes = noise(size, size + 1)
      const reference = new MemoryBlockstore()
      const expected = await unixfs({ blockstore: reference }).addByteStream(chunks(bytes))
      const ours = new MemoryBlockstore()
      const leaves = eagerRawLeaves()
      const got = await unixfs({ blockstore: ours }).addByteStream(chunks(bytes), { bufferImporter: leaves.bufferImporter })
      await leaves.written()
      expect(got.toString(), `${size} bytes`).toBe(expected.toString())
      const keys = async (b: MemoryBlockstore) => {
        const out: string[] = []
        for await (const { cid } of b.getAll()) out.push(cid.toString())
        return out.sort()
      }
      expect(await keys(ours)).toEqual(await keys(reference))
      // addBytes (the WebSocket's storefile) as well
      const fromBytes = eagerRawLeaves()
      expect(
        (await unixfs({ blockstore: new MemoryBlockstore() }).addBytes(bytes, { bufferImporter: fromBytes.bufferImporter })).toString(),
      ).toBe(expected.toString())
      await fromBytes.written()
    }
  })

  it('runs at most maxInFlight leaf writes, takes no more chunks meanwhile, and written() waits for the last', async () => {
    const slow = slowBlockstore()
    const leaves = eagerRawLeaves(3)
    let taken = 0
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const c of chunks(noise(8 * MiB, 5))) {
        taken += c.length
        yield c
      }
    }
    const imported = unixfs({ blockstore: slow.store }).addByteStream(counted(), { bufferImporter: leaves.bufferImporter })
    // three 1 MiB writes start; the fourth chunk is not taken before one of them ends
    await expect.poll(() => slow.waiting()).toBe(3)
    expect(taken).toBeLessThanOrEqual(4 * MiB)
    let finished = false
    const all = Promise.all([imported, leaves.written()]).finally(() => {
      finished = true
    })
    while (!finished) {
      slow.open()
      await new Promise((r) => setImmediate(r))
    }
    const [root] = await all
    // the leaves, and the file's root node, which the importer writes itself
    expect(slow.most()).toBeLessThanOrEqual(3 + 1)
    expect(await slow.blocks.has(root)).toBe(true)
    expect(taken).toBe(8 * MiB)
  })

  it('written() rejects with a failed write; settled() waits for the others without throwing', async () => {
    const slow = slowBlockstore()
    const leaves = eagerRawLeaves(4)
    const imported = unixfs({ blockstore: slow.store }).addByteStream(chunks(noise(3 * MiB, 9)), { bufferImporter: leaves.bufferImporter })
    await expect.poll(() => slow.waiting()).toBeGreaterThanOrEqual(3)
    slow.failNextWith(new Error('disk full'))
    let settled = false
    const waited = leaves.settled().then(() => {
      settled = true
    })
    while (!settled) {
      slow.open()
      await new Promise((r) => setImmediate(r))
    }
    await waited
    await imported.catch(() => {})
    await expect(leaves.written()).rejects.toThrow('disk full')
  })
})
