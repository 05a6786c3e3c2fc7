import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { AddressBook } from '../../src/p2p/address-book.ts'
import { CoalescedWrite } from '../../src/p2p/coalesced-write.ts'
import { removeOrphanTempFiles } from '../../src/p2p/data-dir.ts'
import { KnownPeers } from '../../src/p2p/known-peers.ts'
import { Reputation } from '../../src/p2p/reputation.ts'
import { tempDir } from '../support/daemon.ts'
import { syntheticPeerId } from '../support/synthetic-peers.ts'

const dirs: string[] = []
async function freshDir(): Promise<string> {
  const dir = await tempDir('sb-durable-')
  dirs.push(dir)
  return dir
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

/** A write the test lets finish when it wants, recording what state each write saw. */
function gatedWrites(state: () => number) {
  const started: number[] = []
  const gates: Array<{ open(err?: Error): void }> = []
  const write = () =>
    new Promise<void>((resolve, reject) => {
      started.push(state())
      gates.push({ open: (err) => (err ? reject(err) : resolve()) })
    })
  return { write, started, gates }
}

/** Long enough for a loaded machine; polled often, since the writes under test are quick. */
const WAIT = { timeout: 10_000, interval: 5 }

describe('CoalescedWrite', () => {
  it('keeps one write in flight and one pending; each change resolves only after a write that holds it', async () => {
    let value = 0
    const g = gatedWrites(() => value)
    const w = new CoalescedWrite(g.write, { what: 'test' })
    const settled: number[] = []
    const change = (n: number) => {
      value = n
      void w.changed().then(() => settled.push(n))
    }
    change(1)
    change(2)
    await vi.waitFor(() => expect(g.started).toHaveLength(1), WAIT)
    expect(g.started).toEqual([2]) // both changes of the same tick in one write
    change(3)
    change(4)
    change(5)
    // a pending write would start on the next turns of the event loop: give it several
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    expect(g.started).toHaveLength(1) // the others wait for it: never two writes at once
    expect(settled).toEqual([])
    g.gates[0]?.open()
    await vi.waitFor(() => expect(g.started).toHaveLength(2), WAIT)
    expect(settled).toEqual([1, 2])
    expect(g.started).toEqual([2, 5]) // one write for the three changes that waited
    g.gates[1]?.open()
    await vi.waitFor(() => expect(settled).toHaveLength(5), WAIT)
    expect(settled).toEqual([1, 2, 3, 4, 5])
    await w.durable() // nothing pending: at once
    expect(g.started).toHaveLength(2)
  })

  it('a failed write rejects its waiters with a message naming the file; the next change writes again', async () => {
    const g = gatedWrites(() => 0)
    const w = new CoalescedWrite(g.write, { what: 'the things (/x/things.json)' })
    const first = w.changed()
    await vi.waitFor(() => expect(g.gates).toHaveLength(1), WAIT)
    g.gates[0]?.open(new Error('ENOSPC: no space left on device'))
    await expect(first).rejects.toThrow('cannot save the things (/x/things.json): ENOSPC: no space left on device')
    const again = w.durable() // the failed change is still not on disk: durable() writes it
    await vi.waitFor(() => expect(g.gates).toHaveLength(2), WAIT)
    g.gates[1]?.open()
    await expect(again).resolves.toBeUndefined()
  })

  it('with a delay, a burst of changes costs one write, and durable({now}) does not wait for the delay', async () => {
    let value = 0
    const g = gatedWrites(() => value)
    const w = new CoalescedWrite(g.write, { what: 'test', delayMs: 60_000 })
    for (let i = 1; i <= 100; i++) {
      value = i
      void w.changed()
    }
    const done = w.durable({ now: true })
    await vi.waitFor(() => expect(g.started).toHaveLength(1), WAIT)
    expect(g.started).toEqual([100])
    // asked for now while that write is in flight: the one after it does not wait for the delay either
    value = 101
    void w.changed()
    const later = w.durable({ now: true })
    g.gates[0]?.open()
    await done
    // the second write, without its minute of delay
    await vi.waitFor(() => expect(g.started).toHaveLength(2), WAIT)
    expect(g.started).toEqual([100, 101])
    g.gates[1]?.open()
    await later
  })
})

describe('stores that acknowledge only what is on disk', () => {
  it('known peers: every upsert has landed in the file when it resolves, concurrent ones included', async () => {
    const dir = await freshDir()
    const path = join(dir, 'known-peers.peer-a.json')
    const known = await KnownPeers.load(path)
    const ids = Array.from({ length: 50 }, (_, i) => syntheticPeerId(i + 1))
    await Promise.all(
      ids.map(async (peerId) => {
        await known.upsert({ peerId, name: `n-${peerId.slice(-4)}`, addedAt: 1, lastSyncAt: null, autoConnect: false })
        // acknowledged: another process reading the file now finds it
        const onDisk = (await KnownPeers.load(path)).list().map((p) => p.peerId)
        expect(onDisk).toContain(peerId)
      }),
    )
    await known.remove(ids[0] as string)
    expect((await KnownPeers.load(path)).has(ids[0] as string)).toBe(false)
  })

  it('known peers: a write that fails rejects the change with the file named', async () => {
    const dir = await freshDir()
    const path = join(dir, 'gone', 'known-peers.peer-a.json') // the directory does not exist
    const known = await KnownPeers.load(path)
    await expect(known.upsert({ peerId: syntheticPeerId(1), name: '', addedAt: 1, lastSyncAt: null, autoConnect: false })).rejects.toThrow(
      `cannot save known peers (${path})`,
    )
    await mkdir(join(dir, 'gone'))
    await expect(known.flush()).resolves.toBeUndefined()
    expect((await KnownPeers.load(path)).has(syntheticPeerId(1))).toBe(true)
  })

  it('bans: save() after concurrent bans resolves with every one of them on disk', async () => {
    const dir = await freshDir()
    const path = join(dir, 'bans.json')
    const rep = await Reputation.load(path)
    const ids = Array.from({ length: 30 }, (_, i) => syntheticPeerId(100 + i))
    await Promise.all(
      ids.map(async (id) => {
        rep.bans.add(id, 3600, 'test')
        await rep.save()
        const onDisk = (await Reputation.load(path)).bans.list().map((b) => b.peerId)
        expect(onDisk).toContain(id)
      }),
    )
  })

  it('address book: with saveOnChange a change reaches the file without any save() call', async () => {
    const dir = await freshDir()
    const path = join(dir, 'address-book.json')
    const book = await AddressBook.load(path, { allowLoopback: true, saveDelayMs: 50 })
    const errors: Error[] = []
    const stop = book.saveOnChange((err) => errors.push(err))
    const addr = `/ip4/127.0.0.1/tcp/4001/p2p/${syntheticPeerId(7)}`
    expect(book.add(addr, { source: 'dht' }).added).toBe(true)
    await vi.waitFor(async () => expect((await AddressBook.load(path, { allowLoopback: true })).size).toBe(1), WAIT)
    stop()
    expect(errors).toEqual([])
  })
})

describe('orphan temp files', () => {
  it('are removed from the data directory and node directories; nothing else is', async () => {
    const dir = await freshDir()
    const node = join(dir, 'nodes', 'peer-a')
    await mkdir(join(node, 'blocks'), { recursive: true })
    const orphans = [
      join(dir, '.bans.json.4242.0123456789ab.tmp'),
      join(node, '.files-root.json.7.abcdefabcdef.tmp'),
      join(dir, 'daemon.lock.999999999.0badcafe'),
    ]
    const keep = [join(dir, 'bans.json'), join(dir, 'notes.tmp'), join(dir, '.other.tmp'), join(node, 'blocks', '.x.1.0123456789ab.tmp')]
    for (const f of [...orphans, ...keep]) await writeFile(f, 'x')
    const removed = await removeOrphanTempFiles(dir)
    expect(removed.sort()).toEqual([...orphans].sort())
    const left = [
      ...(await readdir(dir)),
      ...(await readdir(node)).map((n) => `peer-a/${n}`),
      ...(await readdir(join(node, 'blocks'))).map((n) => `blocks/${n}`),
    ]
    expect(left.sort()).toEqual(['.other.tmp', 'bans.json', 'blocks/.x.1.0123456789ab.tmp', 'nodes', 'notes.tmp', 'peer-a/blocks'].sort())
    expect(await readFile(join(dir, 'bans.json'), 'utf8')).toBe('x')
  })
})
