import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBook } from '../../src/p2p/address-book/binary.ts'
import {
  ADDRESS_BOOK_FORMAT,
  ADDRESS_BOOK_JSON_VERSION,
  ADDRESS_BOOK_VERSION,
  AddressBook,
  type AddressEntry,
  readBookFile,
} from '../../src/p2p/address-book.ts'
import { saveVersioned } from '../../src/p2p/json-file.ts'
import { syntheticPeerId } from '../support/synthetic-peers.ts'

const pid = syntheticPeerId
const START = Date.UTC(2025, 0, 1)

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'switchboard-abb-'))
  dirs.push(d)
  return d
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

function clock(start = START) {
  let t = start
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
}

/** Peer ids of every form the file keeps: base58 of fewer than 32 bytes and base32 with an 'l' (as text), a sha-256 one and one with leading zero bytes (as bytes). */
const SHORT_ID = `1${'23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefg'}` // 40 characters: 29 bytes
const BASE32_ID = `bafzbeilz${'abcdefgh2345'.repeat(4)}`
const QM_ID = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
const ZEROS_ID = `111${pid(21).slice(3)}`
const OTHER_IDS = [SHORT_ID, BASE32_ID, QM_ID, ZEROS_ID]

/** A book with one entry of every kind the format distinguishes. */
function variedBook(path: string, now: () => number, advance: (ms: number) => void) {
  const b = new AddressBook({ path, now, allowPrivate: true, allowLoopback: true, allowLinkLocal: true, log: () => {} })
  b.add(`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`, { source: 'dht' })
  b.add('/ip4/1.2.3.5/tcp/4001', { peerId: pid(2), source: 'identify' })
  b.add('/ip4/5.6.7.8/udp/4001/quic-v1', { source: 'manual' }) // bare: no peer
  b.add(`/ip4/9.9.9.9/tcp/4001/p2p/${pid(3)}/p2p-circuit/p2p/${pid(4)}`, { source: 'presence' }) // relayed
  b.add('/ip6/2a01:4f8::1/tcp/4001', { peerId: pid(5), source: 'pairing' })
  b.add('/dns4/node.example.com/tcp/443/wss', { peerId: pid(6), source: 'dht' })
  b.add('/ip4/192.168.1.2/tcp/4001', { peerId: pid(7), source: 'pairing' }) // private
  b.add('/ip4/127.0.0.1/tcp/4001', { peerId: pid(8), source: 'manual' }) // loopback
  b.add('/ip6/fe80::1/tcp/4001', { peerId: pid(9), source: 'manual' }) // link-local
  b.add(`/ip4/1.2.9.9/tcp/4001/p2p/${pid(1)}`, { source: 'dht' }) // a second address of peer 1
  advance(1234)
  b.markAttempt('/ip4/1.2.3.5/tcp/4001', pid(2))
  b.markSuccess('/ip4/1.2.3.5/tcp/4001', pid(2))
  for (let i = 0; i < 20; i++) {
    advance(7)
    b.markFailure('/ip4/5.6.7.8/udp/4001/quic-v1') // more failures than the history keeps
  }
  advance(0.5) // a fractional clock: times that are not integers are kept as they are
  b.markAttempt(`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`)
  b.add('/ip4/1.2.3.7/tcp/4001', { peerId: pid(11), source: 'dht' })
  for (let i = 0; i < 300; i++) b.markAttempt('/ip4/1.2.3.7/tcp/4001', pid(11)) // counts past a byte
  b.markSuccess('/ip4/1.2.3.7/tcp/4001', pid(11))
  b.add(`/ip4/3.4.5.6/tcp/4001/p2p/${SHORT_ID}`, { source: 'dht' })
  b.add('/ip4/3.4.5.7/tcp/4001', { peerId: BASE32_ID, source: 'dht' })
  b.add(`/ip4/3.4.5.8/tcp/4001/p2p/${QM_ID}`, { source: 'identify' })
  b.add(`/ip4/3.4.5.9/tcp/4001/p2p/${ZEROS_ID}`, { source: 'identify' })
  b.markAttempt(`/ip4/3.4.5.9/tcp/4001/p2p/${ZEROS_ID}`)
  return b
}

/** variedBook saved in a new directory, and load options that let every entry of it in. */
async function savedVariedBook() {
  const path = join(await tempDir(), 'address-book.bin')
  const c = clock()
  const b = variedBook(path, c.now, c.advance)
  await b.save()
  return { path, c, b, opts: { now: c.now, allowPrivate: true, allowLoopback: true, allowLinkLocal: true, log: () => {} } }
}

const everything = (b: AddressBook) => b.list().map((e) => b.get(e.multiaddr, e.peerId))

describe('address book on disk (binary, version 3)', () => {
  it('round-trips every field of every kind of entry exactly', async () => {
    const { path, b, opts } = await savedVariedBook()
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { ...opts, log: (m) => logs.push(m) })
    expect(logs).toEqual([])
    expect(loaded.size).toBe(b.size)
    expect(everything(loaded)).toEqual(everything(b))
    expect(loaded.forPeer(pid(1))).toEqual(b.forPeer(pid(1)))
    for (const id of OTHER_IDS) {
      expect(loaded.forPeer(id)).toHaveLength(1)
      expect(loaded.forPeer(id)).toEqual(b.forPeer(id))
      expect(loaded.best(8, { peerId: id }).map((e) => e.multiaddr)).toEqual(b.best(8, { peerId: id }).map((e) => e.multiaddr))
    }
    expect(loaded.get('/ip4/5.6.7.8/udp/4001/quic-v1')?.failureTimes.length).toBe(16)
    expect(loaded.groupCount).toBe(b.groupCount)
    // loaded entries behave as added ones: the peer id learnt from the key, refreshes, removal
    expect(loaded.add('/ip4/1.2.3.4/tcp/4001', { peerId: pid(1), source: 'dht' }).reason).toBe('exists')
    expect(loaded.remove(`/ip4/1.2.9.9/tcp/4001/p2p/${pid(1)}`)).toBe(true)
    expect(loaded.forPeer(pid(1)).length).toBe(1)
  })

  it('answers per-peer queries after changes made before the first one (the by-peer index of a load is built when first asked)', async () => {
    const { path, b, opts } = await savedVariedBook()
    const loaded = await AddressBook.load(path, opts)
    // before any per-peer query: a removal, a new address of a known peer, a bare entry learning its peer
    expect(loaded.remove(`/ip4/1.2.9.9/tcp/4001/p2p/${pid(1)}`)).toBe(true)
    expect(loaded.add('/ip4/1.2.3.6/tcp/4001', { peerId: pid(2), source: 'dht' }).added).toBe(true)
    expect(loaded.add('/ip4/5.6.7.8/udp/4001/quic-v1', { peerId: pid(10), source: 'dht' }).reason).toBe('exists')
    b.remove(`/ip4/1.2.9.9/tcp/4001/p2p/${pid(1)}`)
    b.add('/ip4/1.2.3.6/tcp/4001', { peerId: pid(2), source: 'dht' })
    b.add('/ip4/5.6.7.8/udp/4001/quic-v1', { peerId: pid(10), source: 'dht' })
    for (const p of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) expect(loaded.forPeer(pid(p))).toEqual(b.forPeer(pid(p)))
    expect(loaded.forPeer(pid(2)).length).toBe(2)
    expect(loaded.forPeer(pid(10)).map((e) => e.multiaddr)).toEqual([`/ip4/5.6.7.8/udp/4001/quic-v1/p2p/${pid(10)}`])
    // and after it: the index is kept up to date
    expect(loaded.remove('/ip4/1.2.3.6/tcp/4001', pid(2))).toBe(true)
    expect(loaded.forPeer(pid(2)).map((e) => e.multiaddr)).toEqual([`/ip4/1.2.3.5/tcp/4001/p2p/${pid(2)}`])
    expect(loaded.best(8, { peerId: pid(1) }).map((e) => e.multiaddr)).toEqual([`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`])
  })

  it('saves a loaded book whose peer ids were never read as it was (each the suffix of its key until read)', async () => {
    const { path, b, opts } = await savedVariedBook()
    const once = await AddressBook.load(path, opts)
    await once.save()
    const twice = await AddressBook.load(path, opts)
    expect(everything(twice)).toEqual(everything(b))
    for (const p of [1, 2, 3, 4, 5, 6]) expect(twice.forPeer(pid(p))).toEqual(b.forPeer(pid(p)))
  })

  it('round-trips keys that are not ASCII (a DNS name in Unicode) beside ASCII ones', async () => {
    const dir = await tempDir()
    const path = join(dir, 'address-book.bin')
    const c = clock()
    const b = new AddressBook({ path, now: c.now, log: () => {} })
    expect(b.add('/dns4/bücher.example/tcp/443/wss', { peerId: pid(1), source: 'manual' }).added).toBe(true)
    expect(b.add('/ip4/1.2.3.4/tcp/4001', { peerId: pid(2), source: 'dht' }).added).toBe(true)
    await b.save()
    const loaded = await AddressBook.load(path, { now: c.now, log: () => {} })
    expect(everything(loaded)).toEqual(everything(b))
    expect(loaded.forPeer(pid(1))[0]?.multiaddr).toBe(`/dns4/bücher.example/tcp/443/wss/p2p/${pid(1)}`)
  })

  it('applies a smaller maxPerGroup on load: a group keeps its first entries, the rest are skipped and counted', async () => {
    const dir = await tempDir()
    const path = join(dir, 'address-book.bin')
    const c = clock()
    const b = new AddressBook({ path, now: c.now, log: () => {} })
    for (let i = 1; i <= 5; i++) b.add(`/ip4/7.7.0.${i}/tcp/4001`, { peerId: pid(i), source: 'dht' })
    b.add('/ip4/8.8.0.1/tcp/4001', { peerId: pid(9), source: 'dht' })
    await b.save()
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { now: c.now, maxPerGroup: 2, log: (m) => logs.push(m) })
    expect(loaded.size).toBe(3)
    expect(loaded.groupCount).toBe(2)
    expect(loaded.best(8).filter((e) => e.group === 'ip4:7.7')).toHaveLength(2)
    expect(logs.join('\n')).toMatch(/skipped 3 of 6 saved entries/)
    // the loaded groups are the book's own: an entry removed and one added keep the counts right
    expect(loaded.remove(`/ip4/8.8.0.1/tcp/4001/p2p/${pid(9)}`)).toBe(true)
    expect(loaded.groupCount).toBe(1)
    expect(loaded.add('/ip4/8.8.0.2/tcp/4001', { peerId: pid(10), source: 'dht' }).added).toBe(true)
    expect(loaded.add('/ip4/7.7.0.9/tcp/4001', { peerId: pid(11), source: 'dht' }).reason).toBe('group-full')
    expect(loaded.groupCount).toBe(2)
  })

  it('keeps a loaded book as it changes: removals, a bare entry learning its peer, outcomes and newcomers, saved and loaded again', async () => {
    const { path, b, opts } = await savedVariedBook()
    const loaded = await AddressBook.load(path, opts)
    // the same changes to both books; the loaded one has made no entry of its own yet
    for (const book of [b, loaded]) {
      expect(book.remove('/ip4/1.2.3.5/tcp/4001', pid(2))).toBe(true)
      expect(book.add('/ip4/5.6.7.8/udp/4001/quic-v1', { peerId: pid(12), source: 'dht' }).reason).toBe('exists')
      expect(book.markFailure(`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`)).toBe(true)
      expect(book.add('/ip4/1.2.3.6/tcp/4001', { peerId: pid(2), source: 'identify' }).added).toBe(true)
      expect(book.add('/ip4/1.2.3.5/tcp/4001', { peerId: pid(2), source: 'dht' }).added).toBe(true) // back after its removal
    }
    expect(everything(loaded)).toEqual(everything(b))
    expect(loaded.has('/ip4/5.6.7.8/udp/4001/quic-v1')).toBe(false) // moved to its key with the peer id
    expect(loaded.forPeer(pid(12)).map((e) => e.multiaddr)).toEqual([`/ip4/5.6.7.8/udp/4001/quic-v1/p2p/${pid(12)}`])
    expect(loaded.forPeer(pid(2))).toEqual(b.forPeer(pid(2)))
    await loaded.save()
    const again = await AddressBook.load(path, opts)
    expect(again.size).toBe(b.size)
    expect(everything(again)).toEqual(everything(b))
    for (let p = 1; p <= 12; p++) expect(again.forPeer(pid(p))).toEqual(b.forPeer(pid(p)))
  })

  it('evicts from a full loaded book as from the book it was saved from', async () => {
    const dir = await tempDir()
    const path = join(dir, 'address-book.bin')
    const c = clock()
    const b = new AddressBook({ path, now: c.now, capacity: 200, log: () => {} })
    for (let i = 0; i < 200; i++) {
      const ma = `/ip4/${20 + (i % 40)}.1.0.${i}/tcp/4001`
      b.add(ma, { peerId: pid(i), source: 'dht' })
      if (i % 3 === 0) b.markAttempt(ma, pid(i))
      if (i % 6 === 0) b.markSuccess(ma, pid(i))
      else if (i % 3 === 0) b.markFailure(ma, pid(i))
      c.advance(1000)
    }
    await b.save()
    const loaded = await AddressBook.load(path, { now: c.now, capacity: 200, log: () => {} })
    for (let i = 0; i < 20; i++) {
      const ma = `/ip4/90.${i}.0.1/tcp/4001`
      expect(loaded.add(ma, { peerId: pid(1000 + i), source: 'dht' })).toEqual(b.add(ma, { peerId: pid(1000 + i), source: 'dht' }))
    }
    expect(loaded.pendingTests()).toEqual(b.pendingTests())
    expect(everything(loaded)).toEqual(everything(b))
  })

  it('skips a key that a file repeats, and says so', async () => {
    const dir = await tempDir()
    const path = join(dir, 'address-book.bin')
    const c = clock()
    const b = new AddressBook({ now: c.now, log: () => {} })
    b.add('/ip4/1.2.3.4/tcp/4001', { peerId: pid(1), source: 'dht' })
    b.add('/ip4/1.2.3.5/tcp/4001', { peerId: pid(2), source: 'dht' })
    const one = b.get('/ip4/1.2.3.4/tcp/4001', pid(1)) as AddressEntry
    const writable = (e: AddressEntry) => ({ ...e, group: { key: e.group }, scope: 'public' as const })
    const two = b.get('/ip4/1.2.3.5/tcp/4001', pid(2)) as AddressEntry
    await writeFile(path, await encodeBook([one, two, one].map(writable), START, ADDRESS_BOOK_FORMAT))
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { now: c.now, log: (m) => logs.push(m) })
    expect(loaded.size).toBe(2)
    expect(loaded.forPeer(pid(1))).toHaveLength(1)
    expect(logs.join('\n')).toMatch(/skipped 1 of 3/)
  })

  it('is binary, starts with its magic, format name and version, and is written atomically', async () => {
    const dir = await tempDir()
    const path = join(dir, 'address-book.bin')
    const c = clock()
    await variedBook(path, c.now, c.advance).save()
    const bytes = await readFile(path)
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('SWAB')
    expect(bytes.toString('latin1', 5, 5 + (bytes[4] ?? 0))).toBe(ADDRESS_BOOK_FORMAT)
    expect(bytes.readUInt16LE(5 + (bytes[4] ?? 0))).toBe(ADDRESS_BOOK_VERSION)
    expect(await readdir(dir)).toEqual(['address-book.bin'])
    expect((await readBookFile(path))?.kind).toBe('binary')
  })

  it('keeps the scope filter on load without parsing: entries the options now refuse are skipped and counted', async () => {
    const { path, c, b } = await savedVariedBook()
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { now: c.now, log: (m) => logs.push(m) })
    expect(loaded.size).toBe(b.size - 3)
    expect(loaded.has('/ip4/192.168.1.2/tcp/4001', pid(7))).toBe(false)
    expect(loaded.has('/ip4/127.0.0.1/tcp/4001', pid(8))).toBe(false)
    expect(loaded.has('/ip6/fe80::1/tcp/4001', pid(9))).toBe(false)
    expect(logs.join('\n')).toMatch(/skipped 3 of 15/)
  })

  it.each([
    ['truncated', async (path: string) => truncate(path, (await stat(path)).size - 10), /truncated/],
    ['cut inside its header', async (path: string) => truncate(path, 20), /truncated/],
    [
      'another version',
      async (path: string) => {
        const bytes = await readFile(path)
        bytes.writeUInt16LE(99, 5 + (bytes[4] ?? 0))
        await writeFile(path, bytes)
      },
      /version 99 is not supported/,
    ],
    [
      'bytes appended',
      async (path: string) => writeFile(path, Buffer.concat([await readFile(path), Buffer.from([1, 2, 3])])),
      /3 bytes after the end/,
    ],
    [
      'a flipped byte in the header',
      async (path: string) => {
        const bytes = await readFile(path)
        const at = 5 + (bytes[4] ?? 0) + 2 // the entry count
        bytes[at] = (bytes[at] as number) ^ 1
        await writeFile(path, bytes)
      },
      /checksum mismatch/,
    ],
    ['empty', async (path: string) => writeFile(path, ''), /empty file/],
  ])('detects a file %s: reports it, moves it aside, starts empty, and saves again', async (_label, damage, why) => {
    const dir = await tempDir()
    const path = join(dir, 'address-book.bin')
    const c = clock()
    await variedBook(path, c.now, c.advance).save()
    await damage(path)
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { now: c.now, log: (m) => logs.push(m) })
    expect(loaded.size).toBe(0)
    expect(logs.length).toBe(1)
    expect(logs[0]).toMatch(/address book is corrupt/)
    expect(logs[0]).toMatch(why)
    const files = await readdir(dir)
    expect(files.filter((f) => f.startsWith('address-book.bin.corrupt-')).length).toBe(1)
    expect(files).not.toContain('address-book.bin')
    loaded.add('/ip4/1.2.3.4/tcp/4001', { source: 'manual' })
    await loaded.save()
    expect((await AddressBook.load(path, { log: () => {} })).size).toBe(1)
  })
})

describe('address book on disk, version 2 (peer ids as text)', () => {
  it('reads a file an earlier version wrote, then saves it as version 3 with the same entries', async () => {
    // written by this book at version 2 (commit 197b110), with its entries as that book listed them
    const fixtures = new URL('../fixtures/address-book/', import.meta.url)
    const expected = JSON.parse(await readFile(new URL('version-2.json', fixtures), 'utf8')) as AddressEntry[]
    const path = join(await tempDir(), 'address-book.bin')
    await writeFile(path, await readFile(new URL('version-2.bin', fixtures)))
    const byKey = (a?: AddressEntry, b?: AddressEntry) => (a?.multiaddr ?? '').localeCompare(b?.multiaddr ?? '')
    const opts = { now: clock(START + 60_000).now, allowLoopback: true }
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { ...opts, log: (m) => logs.push(m) })
    expect(logs).toEqual([])
    expect(everything(loaded).sort(byKey)).toEqual(expected.sort(byKey))
    expect(loaded.forPeer(pid(1)).map((e) => e.multiaddr)).toEqual([`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`])
    await loaded.save()
    expect((await readFile(path)).readUInt16LE(5 + ADDRESS_BOOK_FORMAT.length)).toBe(3)
    const again = await AddressBook.load(path, { ...opts, log: (m) => logs.push(m) })
    expect(everything(again).sort(byKey)).toEqual(expected.sort(byKey))
    expect(logs).toEqual([])
  })
})

describe('address book migration from the JSON file (version 1)', () => {
  /** The JSON book an earlier version wrote, through the same envelope code it used. */
  async function writeJsonBook(path: string, b: AddressBook) {
    const entries = b.list().map((w) => {
      const e = b.get(w.multiaddr, w.peerId) as Record<string, unknown>
      const { group: _g, quality: _q, ...record } = e
      return record
    })
    await saveVersioned(path, ADDRESS_BOOK_FORMAT, ADDRESS_BOOK_JSON_VERSION, { savedAt: START, entries })
  }

  it('reads the old file once, writes the binary one, removes the old one', async () => {
    const dir = await tempDir()
    const bin = join(dir, 'address-book.bin')
    const json = join(dir, 'address-book.json')
    const c = clock()
    const b = variedBook(join(dir, 'unused'), c.now, c.advance)
    await writeJsonBook(json, b)
    const opts = { now: c.now, allowPrivate: true, allowLoopback: true, allowLinkLocal: true }
    const logs: string[] = []
    const migrated = await AddressBook.load(bin, { ...opts, migrateFrom: json, log: (m) => logs.push(m) })
    expect(everything(migrated)).toEqual(everything(b))
    expect(logs).toEqual([`address book: migrated ${b.size} entries from ${json} (JSON) to ${bin} (binary)`])
    expect((await readdir(dir)).sort()).toEqual(['address-book.bin'])
    expect((await readBookFile(bin))?.kind).toBe('binary')
    // the next start reads the binary file, with the same entries
    const again = await AddressBook.load(bin, { ...opts, migrateFrom: json, log: (m) => logs.push(m) })
    expect(everything(again)).toEqual(everything(b))
    expect(logs.length).toBe(1)
  })

  it('prefers the binary file when both exist (a stop between writing it and removing the old one)', async () => {
    const dir = await tempDir()
    const bin = join(dir, 'address-book.bin')
    const json = join(dir, 'address-book.json')
    const c = clock()
    const old = new AddressBook({ now: c.now, log: () => {} })
    old.add('/ip4/1.1.1.1/tcp/1', { source: 'dht' })
    await writeJsonBook(json, old)
    const current = new AddressBook({ path: bin, now: c.now, log: () => {} })
    current.add('/ip4/2.2.2.2/tcp/2', { source: 'dht' })
    await current.save()
    const loaded = await AddressBook.load(bin, { now: c.now, migrateFrom: json, log: () => {} })
    expect(loaded.list().map((e) => e.multiaddr)).toEqual(['/ip4/2.2.2.2/tcp/2'])
  })

  it('still reads a JSON book at its own path, and saves it back as binary', async () => {
    const dir = await tempDir()
    const path = join(dir, 'addressbook.json')
    const c = clock()
    const b = variedBook(join(dir, 'unused'), c.now, c.advance)
    await writeJsonBook(path, b)
    const opts = { now: c.now, allowPrivate: true, allowLoopback: true, allowLinkLocal: true, log: () => {} }
    const loaded = await AddressBook.load(path, opts)
    expect(everything(loaded)).toEqual(everything(b))
    await loaded.save()
    expect((await readBookFile(path))?.kind).toBe('binary')
    expect(everything(await AddressBook.load(path, opts))).toEqual(everything(b))
  })

  it('moves a corrupt old file aside and starts empty', async () => {
    const dir = await tempDir()
    const bin = join(dir, 'address-book.bin')
    const json = join(dir, 'address-book.json')
    await writeFile(json, '{"format":"switchboard.addressbook","version":1,"sha256":"00","data":{"entries":[]}}')
    const logs: string[] = []
    const loaded = await AddressBook.load(bin, { migrateFrom: json, log: (m) => logs.push(m) })
    expect(loaded.size).toBe(0)
    expect(logs.length).toBe(1)
    expect(logs[0]).toMatch(/address book is corrupt: .*address-book\.json: checksum mismatch/)
    expect((await readdir(dir)).filter((f) => f.startsWith('address-book.json.corrupt-')).length).toBe(1)
  })
})
