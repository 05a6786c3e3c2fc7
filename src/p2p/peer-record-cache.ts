import type { AbortOptions } from '@libp2p/interface'
import type { Batch, Datastore, Key, KeyQuery, Pair, Query } from 'interface-datastore'

/** libp2p's peer store keeps one record per peer under this prefix (@libp2p/peer-store). */
const PEER_PREFIX = '/peers/'

export interface PeerRecordCacheOptions {
  /** Records kept in memory (the least recently used go first; unsaved ones stay until saved). */
  maxRecords?: number
  /** How long a changed record may wait before it is written (ms). */
  flushDelayMs?: number
  /** Told when a write-behind batch fails (the records stay queued for the next one). */
  onError?: (err: Error) => void
}

/**
 * A datastore in front of libp2p's that keeps its peer records in memory and writes them behind.
 *
 * libp2p's peer store reads, decodes, merges and writes a peer's record on every change (each
 * identify, each protocol a stream negotiates), always writing since the record carries the time of
 * its update. With LevelDB under it that was 19% of a daemon's CPU for each connection it dialled
 * (bench/profiles/reconnect-dialer-8-peers.txt). Here a read is served from memory after the first,
 * and a record's writes within `flushDelayMs` become one LevelDB batch. The peer store is a cache of
 * what the network told us: a kill loses at most the last `flushDelayMs` of it, which the next
 * identify brings back. Other keys (the DHT's records) go straight through.
 */
export class PeerRecordCache implements Datastore {
  readonly #inner: Datastore
  readonly #max: number
  readonly #delayMs: number
  readonly #onError: (err: Error) => void
  /** key string -> record, in least recently used order. */
  readonly #records = new Map<string, Uint8Array>()
  /** Records changed or deleted since the last write (null: deleted). */
  readonly #dirty = new Map<string, { key: Key; value: Uint8Array | null }>()
  #timer: NodeJS.Timeout | undefined
  /** The write under way: writes happen one at a time, in order. */
  #writing: Promise<void> = Promise.resolve()

  constructor(inner: Datastore, opts: PeerRecordCacheOptions = {}) {
    this.#inner = inner
    this.#max = opts.maxRecords ?? 4096
    this.#delayMs = opts.flushDelayMs ?? 1_000
    this.#onError = opts.onError ?? (() => {})
  }

  async put(key: Key, val: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    if (!k.startsWith(PEER_PREFIX)) return this.#inner.put(key, val, options)
    this.#dirty.set(k, { key, value: val })
    this.#remember(k, val)
    this.#schedule()
    return key
  }

  async get(key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    if (!k.startsWith(PEER_PREFIX)) return this.#inner.get(key, options)
    if (this.#records.has(k) || this.#dirty.get(k)?.value === null) {
      await nextTurn()
      // as it is after the wait: a put or delete meanwhile wins
      const cached = this.#records.get(k)
      if (cached !== undefined) {
        this.#remember(k, cached)
        return cached
      }
    }
    // deleted, not yet written: the inner store still has the old record
    if (this.#dirty.get(k)?.value === null) throw notFound(k)
    const value = await this.#inner.get(key, options)
    // a put or delete while the read was under way wins
    if (!this.#records.has(k) && !this.#dirty.has(k)) this.#remember(k, value)
    if (this.#dirty.get(k)?.value === null) throw notFound(k)
    return this.#records.get(k) ?? value
  }

  async has(key: Key, options?: AbortOptions): Promise<boolean> {
    const k = key.toString()
    if (!k.startsWith(PEER_PREFIX)) return this.#inner.has(key, options)
    if (this.#records.has(k) || this.#dirty.get(k)?.value === null) await nextTurn()
    if (this.#records.has(k)) return true
    if (this.#dirty.get(k)?.value === null) return false
    return this.#inner.has(key, options)
  }

  async delete(key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    if (!k.startsWith(PEER_PREFIX)) return this.#inner.delete(key, options)
    this.#records.delete(k)
    this.#dirty.set(k, { key, value: null })
    this.#schedule()
  }

  // the peer store uses none of these with its keys; they see every record written first

  async *putMany(source: Parameters<Datastore['putMany']>[0], options?: AbortOptions): AsyncGenerator<Key> {
    await this.flush()
    for await (const { key, value } of source) yield await this.put(key, value, options)
  }

  async *getMany(source: Parameters<Datastore['getMany']>[0], options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const key of source) yield { key, value: await this.get(key, options) }
  }

  async *deleteMany(source: Parameters<Datastore['deleteMany']>[0], options?: AbortOptions): AsyncGenerator<Key> {
    for await (const key of source) {
      await this.delete(key, options)
      yield key
    }
  }

  batch(): Batch {
    const ops: Array<{ key: Key; value: Uint8Array | null }> = []
    return {
      put: (key, value) => ops.push({ key, value }),
      delete: (key) => ops.push({ key, value: null }),
      commit: async (options) => {
        for (const op of ops) {
          if (op.value === null) await this.delete(op.key, options)
          else await this.put(op.key, op.value, options)
        }
      },
    }
  }

  async *query(q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    await this.flush()
    yield* this.#inner.query(q, options)
  }

  async *queryKeys(q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    await this.flush()
    yield* this.#inner.queryKeys(q, options)
  }

  /** Write every changed record now (before the store closes; queries do it first too). */
  flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const changes = [...this.#dirty.values()]
    this.#dirty.clear()
    this.#writing = this.#writing.then(async () => {
      if (changes.length === 0) return
      const batch = this.#inner.batch()
      for (const c of changes) {
        if (c.value === null) batch.delete(c.key)
        else batch.put(c.key, c.value)
      }
      try {
        await batch.commit()
      } catch (err) {
        // queued again unless changed since: the next write tries them
        for (const c of changes) if (!this.#dirty.has(c.key.toString())) this.#dirty.set(c.key.toString(), c)
        this.#onError(err as Error)
      }
    })
    return this.#writing
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => void this.flush(), this.#delayMs)
    // a pending write never keeps the process alive: the owner flushes before closing
    this.#timer.unref()
  }

  #remember(k: string, value: Uint8Array): void {
    this.#records.delete(k)
    this.#records.set(k, value)
    if (this.#records.size <= this.#max) return
    for (const old of this.#records.keys()) {
      if (this.#records.size <= this.#max) break
      // an unsaved record is the only copy: it stays until written
      if (!this.#dirty.has(old)) this.#records.delete(old)
    }
  }
}

/**
 * A cached answer still waits for the event loop's next turn, as a LevelDB read does: answered within
 * the same turn, libp2p's DCUtR upgrade of a relayed connection failed (test/relay/relay.test.ts), a
 * race upstream that a store this fast exposes. The wait is a turn of this process, not a round trip
 * through the thread pool, which on a loaded machine waits for two threads to be scheduled.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** What the datastores throw for a missing key (interface-store's NotFoundError; callers test the name). */
function notFound(key: string): Error {
  const err = new Error(`Not Found: ${key}`)
  err.name = 'NotFoundError'
  return err
}
