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
 */
import type { AbortOptions } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import type { CID } from 'multiformats/cid'

type PutValue = Parameters<FsBlockstore['put']>[1]

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

export class FsBlockstoreWritingOnce extends FsBlockstore {
  /** Writes under way, by multihash (blockstore-fs names a block's file after its multihash). */
  readonly #writing = new Map<string, Promise<unknown>>()

  override async put(key: CID, val: PutValue, options?: AbortOptions): Promise<CID> {
    const id = Buffer.from(key.multihash.bytes).toString('base64')
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
      return await write
    } finally {
      if (this.#writing.get(id) === write) this.#writing.delete(id)
    }
  }
}
