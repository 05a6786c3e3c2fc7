import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import { FsBlockstore } from 'blockstore-fs'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { FileStore } from '../../src/actors/files/file-store.ts'
import { rootFile } from '../../src/actors/files/root-file.ts'
import { isAtomicTempName } from '../../src/p2p/atomic-file.ts'
import { DAG_PB_CODEC } from '../../src/p2p/files/directory.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { authHeaders, hasBlock, noise, type Stored } from './support.ts'

/**
 * A directory change saves its root (the root file recovery starts from) and counts it side by
 * side: FileStore.commit's `durable`. Nothing the old root alone used may go before the save has
 * landed, and a save that fails leaves the counts with the old root and frees nothing.
 */

function deferred() {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

async function setup() {
  const blockstore = new MemoryBlockstore()
  const store = new FileStore({
    datastore: new MemoryDatastore(),
    blockstore,
    getLocal: (cid) => toBuffer(blockstore.get(cid)),
  })
  const fs = unixfs({ blockstore })
  const a = await fs.addBytes(noise(1000, 1))
  const b = await fs.addBytes(noise(1000, 2))
  const empty = await fs.addDirectory()
  const r0 = await fs.cp(a, empty, 'a.bin')
  const r1 = await fs.cp(b, empty, 'b.bin')
  await store.commit('peer', r0)
  return { store, blockstore, a, b, r0, r1 }
}

const held = async (blockstore: MemoryBlockstore, cid: CID) => blockstore.has(cid)

describe('FileStore.commit with the root save side by side', () => {
  it('writes the counts at once but frees what the old root alone used only once the save has landed', async () => {
    const { store, blockstore, a, b, r0, r1 } = await setup()
    const save = deferred()
    let done = false
    const commit = store.commit('peer', r1, undefined, { durable: save.promise }).finally(() => {
      done = true
    })
    // the counts move to the new root while the save is under way
    while ((await store.refCount(b)) === 0) await new Promise((r) => setImmediate(r))
    expect(await store.appliedRoot('peer')).toEqual(r1)
    expect(await held(blockstore, a)).toBe(true)
    expect(await held(blockstore, r0)).toBe(true)
    expect(done).toBe(false)
    save.resolve()
    const { freed } = await commit
    expect(freed.map(String).sort()).toEqual([a, r0].map(String).sort())
    expect(await held(blockstore, a)).toBe(false)
    expect(await store.refCount(b)).toBe(1)
  })

  it('a save that fails is thrown; the counts go back to the saved root and nothing is freed', async () => {
    const { store, blockstore, a, b, r0, r1 } = await setup()
    const save = deferred()
    const commit = store.commit('peer', r1, undefined, { durable: save.promise })
    while ((await store.refCount(b)) === 0) await new Promise((r) => setImmediate(r))
    save.reject(new Error('disk full'))
    await expect(commit).rejects.toThrow('disk full')
    expect(await store.appliedRoot('peer')).toEqual(r0)
    expect(await store.refCount(a)).toBe(1)
    expect(await store.refCount(b)).toBe(0)
    // nothing deleted: the new root's blocks are the running directory's, the old root's the saved one's
    for (const cid of [a, b, r0, r1]) expect(await held(blockstore, cid)).toBe(true)
    // the next commit counts from the saved root again
    expect((await store.commit('peer', r1)).freed.map(String).sort()).toEqual([a, r0].map(String).sort())
  })

  it('a collection waits for a commit whose save is under way', async () => {
    const { store, r1 } = await setup()
    const save = deferred()
    const commit = store.commit('peer', r1, undefined, { durable: save.promise })
    let collected = false
    const gc = store.collectGarbage().then(() => {
      collected = true
    })
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    expect(collected).toBe(false)
    save.resolve()
    await commit
    await gc
    expect(collected).toBe(true)
  })
})

describe('a store whose root file cannot be saved (a daemon)', () => {
  let d: TestDaemon
  beforeAll(async () => {
    d = await startTestDaemon()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  const put = (path: string, body: Uint8Array<ArrayBuffer>) =>
    fetch(`${d.origin}/files/peer-a/${path}`, { method: 'PUT', headers: authHeaders(d), body })

  it('the root file is written while the blocks it names are, and replaces the saved root only once they are on disk', async () => {
    const path = rootFile(join(d.dataDir, 'nodes', 'peer-a'))
    const saved = (await (await put('first.bin', noise(1000, 5))).json()) as Stored
    const before = await readFile(path, 'utf8')
    expect(before).toContain(saved.rootCid)
    // the directory nodes the next store makes (dag-pb) are held back on their way to disk
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const held: string[] = []
    const write = FsBlockstore.prototype.put
    const spy = vi.spyOn(FsBlockstore.prototype, 'put').mockImplementation(async function (this: FsBlockstore, ...args) {
      if (args[0].code === DAG_PB_CODEC) {
        held.push(args[0].toString())
        await gate
      }
      return write.apply(this, args)
    })
    try {
      const pending = put('second.bin', noise(1000, 6))
      // its root file is staged meanwhile (a temp file beside it), and the saved root is still the old one
      await vi.waitFor(async () => {
        expect(held.length).toBeGreaterThan(0)
        expect((await readdir(dirname(path))).some(isAtomicTempName)).toBe(true)
      })
      expect(await readFile(path, 'utf8')).toBe(before)
      release()
      const stored = (await (await pending).json()) as Stored
      expect(held).toContain(stored.rootCid)
      expect(await readFile(path, 'utf8')).toContain(stored.rootCid)
      expect((await readdir(dirname(path))).some(isAtomicTempName)).toBe(false)
    } finally {
      release()
      spy.mockRestore()
    }
  })

  it('answers 500 naming the root; the counts stay with the saved root, nothing is freed, and the next store that saves counts it all', async () => {
    const store = d.core.nodes.services('peer-a').files.service.init.store
    const first = (await (await put('a.bin', noise(1000, 1))).json()) as Stored
    const path = rootFile(join(d.dataDir, 'nodes', 'peer-a'))
    expect(JSON.stringify(JSON.parse(await readFile(path, 'utf8')))).toContain(first.rootCid)
    // a non-empty directory where the root file goes: the rename onto it fails
    await rm(path)
    await mkdir(path)
    await writeFile(join(path, 'in-the-way'), 'x')
    const failed = await put('b.bin', noise(1000, 2))
    expect(failed.status).toBe(500)
    expect(await failed.text()).toMatch(/cannot save peer-a's directory root/)
    expect((await store.appliedRoot(d.peerId))?.toString()).toBe(first.rootCid)
    const running = d.core.nodes.services('peer-a').files.service.root
    const b = await d.core.nodes.services('peer-a').files.service.resolve('b.bin')
    expect(await store.refCount(b.cid)).toBe(0)
    expect(await hasBlock(d, b.cid)).toBe(true)
    expect(await hasBlock(d, running)).toBe(true)
    await rm(path, { recursive: true })
    const third = (await (await put('c.bin', noise(1000, 3))).json()) as Stored
    expect((await store.appliedRoot(d.peerId))?.toString()).toBe(third.rootCid)
    expect(await store.refCount(b.cid)).toBe(1)
    expect(await store.refCount(CID.parse(third.fileCid))).toBe(1)
    expect(JSON.stringify(JSON.parse(await readFile(path, 'utf8')))).toContain(third.rootCid)
  })
})
