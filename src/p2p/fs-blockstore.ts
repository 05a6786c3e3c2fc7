/**
 * blockstore-fs (4.0.1) writes a block with steno: to `.<file>.tmp`, then a rename onto the file.
 * Two puts of one block at once write the same temporary file; the first rename takes it away, so
 * the second rename fails (ENOENT) and steno retries it 10 times, 100 ms apart, before
 * blockstore-fs sees that the file exists and returns: the second put takes about a second, and a
 * reader of the block meanwhile may see the file while the second write still fills it.
 *
 * Helia puts every block it fetches, once per reader that asked for it, so two reads of one file
 * at once (GET /ipfs's type sniff and body, two windows that share a block, two clients) fetched
 * each shared block once and waited a second for its second write: a 10 MiB GET between two
 * daemons took ~1.2 s instead of ~0.2 s. Here a put of a block that is being written waits for that
 * write instead of writing the same bytes again (the same multihash is the same file and the same
 * bytes); if that write fails, it writes the block itself.
 *
 * It also keeps the small dag-pb blocks it last wrote or read (directory nodes, file roots: at most
 * SMALL_BLOCK_BYTES each, SMALL_CACHE_BYTES in all) in memory. A store reads the same few of them
 * a dozen times (the upload's limits, the path edit, the quota check, the counting diff, the root's
 * size), each a file open and read through the thread pool: 10-20 ms a store under load. A block is
 * cached only once its file is written (or read from it), and dropped before its file is deleted,
 * so what the cache answers is what the disk holds. Raw leaves (file content) are never cached.
 *
 * A read of a block whose write is under way waits for that write (then reads what it wrote), so
 * a store can go on with a directory node whose write it has started (the quota, the counting)
 * rather than wait for the write first, and no reader sees the block missing meanwhile.
 */
import type { AbortOptions } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'

type PutValue = Parameters<FsBlockstore['put']>[1]

/** dag-pb's multicodec: directory nodes and file roots; raw leaves are 0x55. */
const DAG_PB = 0x70
/** Largest block the cache keeps (a directory node of ~1k entries; file roots are ~10 KiB). */
export const SMALL_BLOCK_BYTES = 64 * 1024
/** Bytes of blocks the cache keeps in all, least recently used dropped first. */
export const SMALL_CACHE_BYTES = 4 * 1024 * 1024

/** `promise`, or the signal's reason once it aborts first (the promise runs on). */
function raced<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** blockstore-fs names a block's file after its multihash, whatever the codec: so does the cache. */
const idOf = (key: CID) => Buffer.from(key.multihash.bytes).toString('base64')

export class FsBlockstoreWritingOnce extends FsBlockstore {
  /** Writes under way, by multihash (blockstore-fs names a block's file after its multihash). */
  readonly #writing = new Map<string, Promise<unknown>>()
  /** Small dag-pb blocks by multihash, least recently used first (a Map keeps insertion order). */
  readonly #small = new Map<string, Uint8Array>()
  #smallBytes = 0
  /** Deletes under way, by multihash: what they delete is not cached meanwhile. */
  readonly #deleting = new Map<string, number>()

  #remember(id: string, key: CID, bytes: Uint8Array): void {
    if (key.code !== DAG_PB || bytes.length > SMALL_BLOCK_BYTES || this.#deleting.has(id)) return
    const old = this.#small.get(id)
    if (old !== undefined) this.#smallBytes -= old.length
    this.#small.delete(id)
    // a copy: the caller's buffer may be a view into a larger one, or reused
    this.#small.set(id, bytes.slice())
    this.#smallBytes += bytes.length
    for (const [oldest, b] of this.#small) {
      if (this.#smallBytes <= SMALL_CACHE_BYTES) break
      this.#small.delete(oldest)
      this.#smallBytes -= b.length
    }
  }

  #forget(id: string): void {
    const old = this.#small.get(id)
    if (old === undefined) return
    this.#small.delete(id)
    this.#smallBytes -= old.length
  }

  override async *get(key: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const id = idOf(key)
    const writing = this.#writing.get(id)
    // its failure is the writer's: the read then finds the block missing, or an earlier copy
    if (writing !== undefined) await raced(writing, options?.signal).catch(() => options?.signal?.throwIfAborted())
    const hit = this.#small.get(id)
    if (hit !== undefined) {
      options?.signal?.throwIfAborted()
      // most recently used now
      this.#small.delete(id)
      this.#small.set(id, hit)
      yield hit.slice()
      return
    }
    if (key.code !== DAG_PB) {
      yield* super.get(key, options)
      return
    }
    const chunks: Uint8Array[] = []
    let length = 0
    for await (const chunk of super.get(key, options)) {
      length += chunk.length
      if (length <= SMALL_BLOCK_BYTES) chunks.push(chunk.slice())
      yield chunk
    }
    if (length <= SMALL_BLOCK_BYTES && !this.#writing.has(id)) this.#remember(id, key, Buffer.concat(chunks, length))
  }

  override async has(key: CID, options?: AbortOptions): Promise<boolean> {
    const id = idOf(key)
    const writing = this.#writing.get(id)
    if (writing !== undefined) await raced(writing, options?.signal).catch(() => options?.signal?.throwIfAborted())
    if (this.#small.has(id)) return true
    return super.has(key, options)
  }

  override async delete(key: CID, options?: AbortOptions): Promise<void> {
    // dropped before the file goes, and not cached again until it is gone: a read meanwhile reads the disk
    const id = idOf(key)
    this.#forget(id)
    this.#deleting.set(id, (this.#deleting.get(id) ?? 0) + 1)
    try {
      await super.delete(key, options)
    } finally {
      const n = (this.#deleting.get(id) ?? 1) - 1
      if (n <= 0) this.#deleting.delete(id)
      else this.#deleting.set(id, n)
    }
  }

  override async put(key: CID, val: PutValue, options?: AbortOptions): Promise<CID> {
    const id = idOf(key)
    for (let write = this.#writing.get(id); write !== undefined; write = this.#writing.get(id)) {
      try {
        await raced(write, options?.signal)
        return key
      } catch (err) {
        // our own abort ends this put; the other write's failure is its own: write the block here
        if (options?.signal?.aborted === true) throw err
        if (this.#writing.get(id) === write) this.#writing.delete(id)
      }
    }
    const write = super.put(key, val, options)
    this.#writing.set(id, write)
    try {
      const written = await write
      if (val instanceof Uint8Array) this.#remember(id, key, val)
      return written
    } finally {
      if (this.#writing.get(id) === write) this.#writing.delete(id)
    }
  }
}
