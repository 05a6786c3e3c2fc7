/**
 * What keeps the blocks of every local peer's directory, and frees exactly the ones nothing uses.
 *
 * Layout: all local peers of a daemon share one blockstore (peer-a's, on disk) and this one store
 * of references, kept in peer-a's datastore:
 *   /switchboard/files/refs/<multihash>  how many times the block occurs in all directories
 *   /switchboard/files/roots/<peerId>    the directory root those counts include, per peer
 * A directory change writes its new blocks, then `commit`s the new root: the difference between
 * the old and new tree (compared link by link, never re-reading unchanged subtrees) adjusts the
 * counts, and a block whose count falls to 0 is deleted unless a Helia pin (peer-a's `pins`) holds
 * it or a change in progress has just written it. Helia's own recursive pins are not used for the
 * directories: they re-walk and re-read the whole DAG (every leaf) on each change.
 *
 * A commit is idempotent per (peer, root): after a crash between saving a root and committing it,
 * committing it again at start-up repairs the counts.
 */
import type { Pins } from '@helia/interface'
import type { Blockstore } from 'interface-blockstore'
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { type BlockGetter, blockKey, diffTrees, isStored } from '../../p2p/files/directory.ts'

const REFS = '/switchboard/files/refs/'
const ROOTS = '/switchboard/files/roots/'

/** The block store operations a UnixFS writer needs. */
export interface BlockWriter {
  get: Blockstore['get']
  put: Blockstore['put']
  has: Blockstore['has']
}

export interface FileStoreInit {
  datastore: Datastore
  /** The raw shared blockstore: deletes go here. */
  blockstore: Blockstore
  /** Reads a block without asking the network (refs are only ever computed over local blocks). */
  getLocal: BlockGetter
  pins?: Pins
  log?: (msg: string) => void
}

/** Serialises async sections. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve()

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn)
    this.#tail = result.catch(() => {})
    return result
  }
}

export interface CommitResult {
  /** Blocks deleted because no directory and no pin references them any more. */
  freed: CID[]
}

export class FileStore {
  readonly #lock = new Mutex()
  /** Blocks written by changes not yet committed, by key: never deleted meanwhile. */
  readonly #writing = new Map<string, number>()
  /** Deletes in progress, by key: a write of the same block waits for them. */
  readonly #deleting = new Map<string, Promise<void>>()

  constructor(readonly init: FileStoreInit) {}

  /**
   * A blockstore for one change: every block it writes is protected from collection until
   * `release()`, which the change calls after it has committed (or failed).
   */
  begin(blocks: BlockWriter): { blocks: BlockWriter; release(): void } {
    const held: string[] = []
    const writing = this.#writing
    const deleting = this.#deleting
    const tracked: BlockWriter = {
      get: (cid, options) => blocks.get(cid, options),
      has: (cid, options) => blocks.has(cid, options),
      put: async (cid, bytes, options) => {
        const key = blockKey(cid)
        // registered before any await, so a collector that has not started yet sees it
        writing.set(key, (writing.get(key) ?? 0) + 1)
        held.push(key)
        await deleting.get(key)
        return blocks.put(cid, bytes, options)
      },
    }
    let released = false
    return {
      blocks: tracked,
      release() {
        if (released) return
        released = true
        for (const key of held) {
          const n = (writing.get(key) ?? 1) - 1
          if (n <= 0) writing.delete(key)
          else writing.set(key, n)
        }
      },
    }
  }

  async appliedRoot(peerId: string): Promise<CID | undefined> {
    try {
      return CID.parse(new TextDecoder().decode(await this.init.datastore.get(new Key(ROOTS + peerId))))
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }

  /** How many times the block occurs in all local directories (0 when none). */
  async refCount(cid: CID): Promise<number> {
    try {
      return Number(new TextDecoder().decode(await this.init.datastore.get(new Key(REFS + blockKey(cid)))))
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return 0
      throw err
    }
  }

  /** Make `root` the peer's counted directory and free what the old one alone used. */
  commit(peerId: string, root: CID, signal?: AbortSignal): Promise<CommitResult> {
    return this.#lock.run(async () => {
      const before = await this.appliedRoot(peerId)
      if (before?.equals(root)) return { freed: [] }
      const diff = await diffTrees(before, root, this.init.getLocal, signal)
      const delta = new Map<string, { cid: CID; n: number }>()
      for (const cid of diff.added) {
        const d = delta.get(blockKey(cid)) ?? { cid, n: 0 }
        d.n += 1
        delta.set(blockKey(cid), d)
      }
      for (const cid of diff.removed) {
        const d = delta.get(blockKey(cid)) ?? { cid, n: 0 }
        d.n -= 1
        delta.set(blockKey(cid), d)
      }
      const batch = this.init.datastore.batch()
      const zero: CID[] = []
      for (const [key, { cid, n }] of delta) {
        if (n === 0) continue
        const count = Math.max(0, (await this.refCount(cid)) + n)
        if (count === 0) {
          batch.delete(new Key(REFS + key))
          zero.push(cid)
        } else {
          batch.put(new Key(REFS + key), new TextEncoder().encode(String(count)))
        }
      }
      batch.put(new Key(ROOTS + peerId), new TextEncoder().encode(root.toString()))
      await batch.commit()
      return { freed: await this.#collect(zero) }
    })
  }

  /** Delete blocks nothing references any more; runs under the commit lock. */
  async #collect(candidates: CID[]): Promise<CID[]> {
    const freed: CID[] = []
    for (const cid of candidates) {
      const key = blockKey(cid)
      if (!isStored(cid) || this.#writing.has(key)) continue
      if ((await this.init.pins?.isPinned(cid)) === true) continue
      // checked again after the await: a change may have written it meanwhile
      if (this.#writing.has(key)) continue
      const deletion = Promise.resolve(this.init.blockstore.delete(cid)).finally(() => this.#deleting.delete(key))
      this.#deleting.set(key, deletion)
      try {
        await deletion
        freed.push(cid)
      } catch (err) {
        this.init.log?.(`files: cannot delete block ${cid}: ${(err as Error).message}`)
      }
    }
    return freed
  }
}
