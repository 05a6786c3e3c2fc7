import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { describe, expect, it } from 'vitest'
import { PeerRecordCache } from '../../src/p2p/peer-record-cache.ts'

// that a node keeps its peer store across a restart, through this cache: test/p2p/peer-store-persistence.test.ts

/** A memory datastore that counts what reaches it. */
class CountingStore extends MemoryDatastore {
  gets = 0
  puts = 0
  batches = 0
  override get(key: Key) {
    this.gets++
    return super.get(key)
  }
  override put(key: Key, value: Uint8Array) {
    this.puts++
    return super.put(key, value)
  }
  override batch() {
    this.batches++
    return super.batch()
  }
}

const peerKey = (n: number) => new Key(`/peers/bafzpeer${n}`)
const bytes = (n: number) => new Uint8Array([n])

describe('PeerRecordCache', () => {
  it('reads a peer record from disk once, then from memory', async () => {
    const inner = new CountingStore()
    await inner.put(peerKey(1), bytes(1))
    const cache = new PeerRecordCache(inner)
    expect(await cache.get(peerKey(1))).toEqual(bytes(1))
    expect(await cache.get(peerKey(1))).toEqual(bytes(1))
    expect(inner.gets).toBe(1)
  })

  it('answers a cached read in a later turn of the event loop, as LevelDB does, and a change meanwhile wins', async () => {
    const inner = new CountingStore()
    const cache = new PeerRecordCache(inner, { flushDelayMs: 60_000 })
    await cache.put(peerKey(1), bytes(1))
    let answered = false
    const read = cache.get(peerKey(1)).then((v) => {
      answered = true
      return v
    })
    // every microtask of this turn runs first: libp2p's DCUtR upgrade broke when the answer came within it
    for (let i = 0; i < 50; i++) await Promise.resolve()
    expect(answered).toBe(false)
    expect(await read).toEqual(bytes(1))

    const stale = cache.get(peerKey(1))
    await cache.put(peerKey(1), bytes(2))
    expect(await stale).toEqual(bytes(2))
    const gone = cache.get(peerKey(1))
    const present = cache.has(peerKey(1))
    await cache.delete(peerKey(1))
    await expect(gone).rejects.toThrow(/Not Found/)
    expect(await present).toBe(false)
    expect(inner.gets).toBe(0)
  })

  it('writes a record behind: many changes become one batch holding the last of each', async () => {
    const inner = new CountingStore()
    const cache = new PeerRecordCache(inner, { flushDelayMs: 60_000 })
    for (let i = 0; i < 5; i++) await cache.put(peerKey(1), bytes(i))
    await cache.put(peerKey(2), bytes(9))
    expect(await cache.get(peerKey(1))).toEqual(bytes(4))
    expect(await inner.has(peerKey(1))).toBe(false)
    await cache.flush()
    expect(inner.batches).toBe(1)
    expect(await inner.get(peerKey(1))).toEqual(bytes(4))
    expect(await inner.get(peerKey(2))).toEqual(bytes(9))
  })

  it('a delete not yet written hides the record on disk, and is written', async () => {
    const inner = new CountingStore()
    await inner.put(peerKey(1), bytes(1))
    const cache = new PeerRecordCache(inner, { flushDelayMs: 60_000 })
    await cache.delete(peerKey(1))
    await expect(cache.get(peerKey(1))).rejects.toMatchObject({ name: 'NotFoundError' })
    expect(await cache.has(peerKey(1))).toBe(false)
    await cache.flush()
    expect(await inner.has(peerKey(1))).toBe(false)
  })

  it('a query sees every record written so far (libp2p lists its peers with one)', async () => {
    const inner = new CountingStore()
    const cache = new PeerRecordCache(inner, { flushDelayMs: 60_000 })
    await cache.put(peerKey(1), bytes(1))
    await cache.put(peerKey(2), bytes(2))
    const keys: string[] = []
    for await (const { key } of cache.query({ prefix: '/peers/' })) keys.push(key.toString())
    expect(keys.sort()).toEqual(['/peers/bafzpeer1', '/peers/bafzpeer2'])
  })

  it('passes other keys (the DHT records) straight through', async () => {
    const inner = new CountingStore()
    const cache = new PeerRecordCache(inner, { flushDelayMs: 60_000 })
    await cache.put(new Key('/dht/record/x'), bytes(7))
    expect(inner.puts).toBe(1)
    expect(await cache.get(new Key('/dht/record/x'))).toEqual(bytes(7))
    expect(inner.gets).toBe(1)
  })

  it('keeps at most maxRecords in memory, but never drops one not yet written', async () => {
    const inner = new CountingStore()
    const cache = new PeerRecordCache(inner, { maxRecords: 2, flushDelayMs: 60_000 })
    for (let i = 0; i < 4; i++) await cache.put(peerKey(i), bytes(i))
    // all unsaved: all still read from memory
    for (let i = 0; i < 4; i++) expect(await cache.get(peerKey(i))).toEqual(bytes(i))
    expect(inner.gets).toBe(0)
    await cache.flush()
    await cache.put(peerKey(9), bytes(9))
    // the oldest saved ones went; they are read from disk again
    expect(await cache.get(peerKey(0))).toEqual(bytes(0))
    expect(inner.gets).toBe(1)
  })
})
