/**
 * What keeps the blocks of every local peer's directory, and frees exactly the ones nothing uses.
 *
 * Layout: all local peers of a daemon share one blockstore (peer-a's, on disk) and this one store
 * of references, kept in peer-a's datastore:
 *   /switchboard/files/refs/<multihash>  how many times the block occurs in all directories
 *   /switchboard/files/roots/<peerId>    the directory root those counts include, per peer
 *                                        (and per `replica:<peerId>`: another peer's synced directory)
 *   /switchboard/files/sessions/<peerId> for a session peer: when it last stored or stopped (ms);
 *                                        its root is dropped `sessionRootRetentionMs` after that
 *   /switchboard/files/cache/<multihash> a fetched DAG kept as cache (block-cache.ts)
 * A directory change writes its new blocks, then `commit`s the new root: the difference between
 * the old and new tree (compared link by link, never re-reading unchanged subtrees) adjusts the
 * counts, and a block whose count falls to 0 is deleted unless a Helia pin (peer-a's `pins`) holds
 * it or a change in progress has just written it. Helia's own recursive pins are not used for the
 * directories: they re-walk and re-read the whole DAG (every leaf) on each change.
 *
 * The counts free a removed file at once without walking anything else; they cannot see blocks no
 * commit ever counted (an aborted import, a crash between writing and committing, blocks fetched
 * by getfile or bitswap). `collectGarbage` is the mark-and-sweep that reclaims those: it walks
 * every counted root, running peer's root, in-progress hold and cached DAG, rewrites the counts
 * from that walk where they disagree, and deletes every other block, except those a change in
 * progress has written.
 *
 * A commit is idempotent per (peer, root): after a crash between saving a root and committing it,
 * committing it again at start-up repairs the counts.
 */
import { readdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Pins } from '@helia/interface'
import type { Blockstore } from 'interface-blockstore'
import { type Datastore, Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { type BlockGetter, blockKey, diffTrees, isStored, RAW_CODEC } from '../../p2p/files/directory.ts'
import { newWalkMemo, treeSize, walkReachable, type WalkMemo } from '../../p2p/files/reachable.ts'
import { Serial } from '../../p2p/serial.ts'
import { type CacheEntry, CacheIndex } from './block-cache.ts'
import { GcSchedule } from './gc-schedule.ts'

const REFS = '/switchboard/files/refs/'
/** Holders of other peers' directories kept as replicas (sync): counted, but not in the local quotas. */
export const REPLICA_HOLDER_PREFIX = 'replica:'
const isReplicaHolder = (holder: string) => holder.startsWith(REPLICA_HOLDER_PREFIX)
const ROOTS = '/switchboard/files/roots/'
const SESSIONS = '/switchboard/files/sessions/'

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
  /** Bytes of fetched, unreferenced DAGs the collector keeps (least recently used evicted first). */
  cacheMaxBytes?: number
  /** How often the collector runs by itself (ms). */
  gcIntervalMs?: number
  /** The blockstore's directory on disk, where orphaned temp files of interrupted block writes are swept. */
  blocksDir?: string
  /** A stopped session peer's root stops counting this long after it last stored or stopped (ms). */
  sessionRootRetentionMs?: number
}

/** What one collection found and did. */
export interface GcReport {
  /** Blocks in the store when it began. */
  blocks: number
  /** Blocks some local peer's directory references. */
  referenced: number
  /** Blocks kept as cache of fetched DAGs, their bytes, and cache entries evicted. */
  cached: number
  cachedBytes: number
  evicted: number
  /** Unreferenced blocks kept because a change in progress wrote them, or a Helia pin holds them. */
  kept: number
  /** Blocks deleted. */
  freed: number
  /** Reference counts rewritten because they disagreed with the walk. */
  countsRepaired: number
  /** Directory or file nodes a directory references that the store does not hold (raw leaves are not read, so not checked). */
  missing: number
  /** Orphaned temp files of interrupted block writes removed. */
  tempFiles: number
  /** Saved roots of stopped session peers dropped by this collection, past `sessionRootRetentionMs`. */
  expired: number
  /** Saved roots of stopped session peers still kept. */
  sessionRoots: number
  ms: number
}

/** Unreferenced blocks a commit deletes side by side (each a pin lookup and a file removal). */
const DELETES_AT_ONCE = 16

/** A temp file older than this is no write in progress (a block write takes milliseconds). */
const TEMP_FILE_AGE_MS = 10 * 60 * 1000

export interface CommitResult {
  /** Blocks deleted because no directory and no pin references them any more. */
  freed: CID[]
}

export class FileStore {
  readonly #lock = new Serial()
  /** Blocks written by changes not yet committed, by key: never deleted meanwhile. */
  readonly #writing = new Map<string, number>()
  /** Deletes in progress, by key: a write of the same block waits for them. */
  readonly #deleting = new Map<string, Promise<void>>()
  /** DAGs in use by a fetch or restore in progress: the collector keeps what they reach. */
  readonly #held = new Map<string, { root: CID; n: number }>()
  /** The directory root each running local peer uses, by peer id: kept even if counting it failed. */
  readonly #live = new Map<string, CID>()
  readonly #openedAt = Date.now()
  /** Bytes of cached DAGs: as of the last collection, plus what was recorded since. */
  #cacheBytes = 0
  /** Bytes each counted root holds (its cumulative size), by holder; read on first use. */
  #sizes: Map<string, number> | undefined
  readonly cache: CacheIndex
  /** Runs collectGarbage: started by the persistent node's files extension. */
  readonly collector: GcSchedule<GcReport>

  constructor(readonly init: FileStoreInit) {
    this.cache = new CacheIndex(init.datastore)
    this.collector = new GcSchedule(
      (signal) => this.collectGarbage(signal),
      init.gcIntervalMs ?? 10 * 60 * 1000,
      (m) => init.log?.(m),
    )
  }

  get #cacheMaxBytes(): number {
    return this.init.cacheMaxBytes ?? Number.POSITIVE_INFINITY
  }

  /**
   * Blockstores for one change: every block it writes is protected from collection until
   * `release()`, which the change calls after it has committed (or failed). `blocks` writes through
   * `through` (Helia's, so a peer that wants a block hears of it); `local` writes to the store itself,
   * for the directory nodes an edit makes: no peer can want them before the change is known, and
   * Helia's lock and `has` check are two thread-pool trips per node on the way to the reply.
   */
  begin(through: BlockWriter): {
    blocks: BlockWriter
    local: BlockWriter
    release(): void
    written(): number
    rawSize(cid: CID): number | undefined
  } {
    const held: string[] = []
    /** Sizes of the raw blocks written, by key: a directory edit links a file without reading it back. */
    const rawSizes = new Map<string, number>()
    const writing = this.#writing
    const deleting = this.#deleting
    const tracked = (blocks: BlockWriter): BlockWriter => ({
      get: (cid, options) => blocks.get(cid, options),
      has: (cid, options) => blocks.has(cid, options),
      put: async (cid, bytes, options) => {
        const key = blockKey(cid)
        // registered before any await, so a collector that has not started yet sees it
        writing.set(key, (writing.get(key) ?? 0) + 1)
        held.push(key)
        if (cid.code === RAW_CODEC && bytes instanceof Uint8Array) rawSizes.set(key, bytes.length)
        // handed on in the same tick when nothing deletes it: the store sees the write under way at
        // once, and a read of the block waits for it (fs-blockstore.ts)
        const deletion = deleting.get(key)
        if (deletion !== undefined) await deletion
        return blocks.put(cid, bytes, options)
      },
    })
    let released = false
    return {
      blocks: tracked(through),
      local: tracked(this.init.blockstore),
      written: () => held.length,
      rawSize: (cid) => (cid.code === RAW_CODEC ? rawSizes.get(blockKey(cid)) : undefined),
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

  /**
   * Make `root` the peer's counted directory and free what the old one alone used. A `session`
   * peer's root expires `sessionRootRetentionMs` after its last commit or stop (see collectGarbage).
   *
   * `durable`: the save of `root` that recovery starts from (the peer's root file), written at the
   * same time as the counts. Nothing is freed before it has landed, so a kill meanwhile leaves the
   * old root's blocks for the start-up commit of the old root (which then counts the old root
   * again); should the save fail, the counts go back to the old root, nothing is freed, and its
   * error is thrown. The lock is held until then: no collection sees counts whose root is not saved.
   */
  commit(
    peerId: string,
    root: CID,
    signal?: AbortSignal,
    opts: { session?: boolean; durable?: Promise<unknown> } = {},
  ): Promise<CommitResult> {
    return this.#lock.run(async () => {
      const before = await this.appliedRoot(peerId)
      if (opts.session === true) await this.init.datastore.put(new Key(SESSIONS + peerId), new TextEncoder().encode(String(Date.now())))
      if (before?.equals(root)) return { freed: [] }
      const zero = await this.#recount(peerId, before, root, signal)
      if (opts.durable !== undefined) {
        try {
          await opts.durable
        } catch (err) {
          await this.#recount(peerId, root, before, signal).catch((e: Error) =>
            this.init.log?.(`files: cannot count ${peerId}'s saved root ${before} again after its save failed: ${e.message}`),
          )
          throw err
        }
      }
      return { freed: await this.#collect(zero) }
    })
  }

  /**
   * Move the counts of `peerId` from the tree of `from` to that of `to` (none: the peer counts
   * nothing), in one batch with its counted root. Returns the blocks whose count fell to 0.
   */
  async #recount(peerId: string, from: CID | undefined, to: CID | undefined, signal?: AbortSignal): Promise<CID[]> {
    const diff = await diffTrees(from, to, this.init.getLocal, signal)
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
    const changed = [...delta].filter(([, d]) => d.n !== 0)
    // the counts are read all at once, not one round trip to the datastore after another
    const counts = await Promise.all(changed.map(([, { cid }]) => this.refCount(cid)))
    for (const [i, [key, { cid, n }]] of changed.entries()) {
      const count = Math.max(0, (counts[i] as number) + n)
      if (count === 0) {
        batch.delete(new Key(REFS + key))
        zero.push(cid)
      } else {
        batch.put(new Key(REFS + key), new TextEncoder().encode(String(count)))
      }
    }
    if (to === undefined) batch.delete(new Key(ROOTS + peerId))
    else batch.put(new Key(ROOTS + peerId), new TextEncoder().encode(to.toString()))
    await batch.commit()
    if (!isReplicaHolder(peerId)) {
      if (to === undefined) this.#sizes?.delete(peerId)
      else this.#sizes?.set(peerId, await this.#rootBytes(to, signal))
    }
    return zero
  }

  /**
   * Stop counting `holder`'s root (a replica dropped): what only it referenced is freed at once,
   * as a commit frees what an old root alone used. Nothing when the holder has no root.
   */
  forget(holder: string, signal?: AbortSignal): Promise<CommitResult> {
    return this.#lock.run(async () => {
      const before = await this.appliedRoot(holder)
      if (before === undefined) return { freed: [] }
      const diff = await diffTrees(before, undefined, this.init.getLocal, signal)
      const removed = new Map<string, { cid: CID; n: number }>()
      for (const cid of diff.removed) {
        const d = removed.get(blockKey(cid)) ?? { cid, n: 0 }
        d.n += 1
        removed.set(blockKey(cid), d)
      }
      const batch = this.init.datastore.batch()
      const zero: CID[] = []
      const entries = [...removed]
      const counts = await Promise.all(entries.map(([, { cid }]) => this.refCount(cid)))
      for (const [i, [key, { cid, n }]] of entries.entries()) {
        const count = Math.max(0, (counts[i] as number) - n)
        if (count === 0) {
          batch.delete(new Key(REFS + key))
          zero.push(cid)
        } else {
          batch.put(new Key(REFS + key), new TextEncoder().encode(String(count)))
        }
      }
      batch.delete(new Key(ROOTS + holder))
      await batch.commit()
      this.#sizes?.delete(holder)
      return { freed: await this.#collect(zero) }
    })
  }

  /** The counted roots whose holder starts with `prefix` (replicas: `replica:`), by holder. */
  async roots(prefix: string): Promise<Map<string, CID>> {
    const out = new Map<string, CID>()
    for await (const { key, value } of this.init.datastore.query({ prefix: ROOTS + prefix })) {
      const root = parseRoot(value)
      if (root !== undefined) out.set(key.toString().slice(ROOTS.length), root)
    }
    return out
  }

  /** Delete blocks nothing references any more, several at once; runs under the commit lock. */
  async #collect(candidates: CID[]): Promise<CID[]> {
    const freed: CID[] = []
    for (let i = 0; i < candidates.length; i += DELETES_AT_ONCE) {
      const some = candidates.slice(i, i + DELETES_AT_ONCE)
      const outcomes = await Promise.all(some.map((cid) => this.#delete(cid)))
      for (const [j, outcome] of outcomes.entries()) if (outcome === 'deleted') freed.push(some[j] as CID)
    }
    return freed
  }

  /** Delete one unreferenced block unless a change in progress wrote it or a pin holds it. */
  async #delete(cid: CID): Promise<'deleted' | 'kept' | 'failed'> {
    const key = blockKey(cid)
    if (!isStored(cid) || this.#writing.has(key)) return 'kept'
    if ((await this.init.pins?.isPinned(cid)) === true) return 'kept'
    // checked again after the await: a change may have written it meanwhile
    if (this.#writing.has(key)) return 'kept'
    const deletion = Promise.resolve(this.init.blockstore.delete(cid)).finally(() => this.#deleting.delete(key))
    this.#deleting.set(key, deletion)
    try {
      await deletion
      return 'deleted'
    } catch (err) {
      this.init.log?.(`files: cannot delete block ${cid}: ${(err as Error).message}`)
      return 'failed'
    }
  }

  /** A session peer stopped: its retention period starts now (nothing for a peer never committed). */
  sessionStopped(peerId: string): Promise<void> {
    return this.#lock.run(async () => {
      const key = new Key(SESSIONS + peerId)
      if (await this.init.datastore.has(key)) await this.init.datastore.put(key, new TextEncoder().encode(String(Date.now())))
    })
  }

  /** Bytes all counted directories hold together (each root's cumulative size, summed); replicas of other peers' directories are not counted. */
  async storedBytes(signal?: AbortSignal): Promise<number> {
    if (this.#sizes === undefined) {
      const sizes = new Map<string, number>()
      for await (const { key, value } of this.init.datastore.query({ prefix: ROOTS })) {
        const root = parseRoot(value)
        const holder = key.toString().slice(ROOTS.length)
        if (root !== undefined && !isReplicaHolder(holder)) sizes.set(holder, await this.#rootBytes(root, signal))
      }
      this.#sizes ??= sizes
    }
    let total = 0
    for (const n of this.#sizes.values()) total += n
    return total
  }

  /** A root's cumulative size from its own block; 0 when the block is not held. */
  async #rootBytes(root: CID, signal?: AbortSignal): Promise<number> {
    try {
      return treeSize(await this.init.getLocal(root, signal), root)
    } catch {
      return 0
    }
  }

  // ---- holds and the cache ------------------------------------------------------------------

  /** Tell the collector the root a running peer uses now (undefined once it stops). */
  liveRoot(peerId: string, root: CID | undefined): void {
    if (root === undefined) this.#live.delete(peerId)
    else this.#live.set(peerId, root)
  }

  /**
   * Keep what `root` reaches from collection until the returned release is called (a getfile,
   * GET /ipfs or rootDirectory restore in progress). Waits for a collection in progress, so the
   * next one is sure to see the hold.
   */
  async hold(root: CID): Promise<() => void> {
    const key = blockKey(root)
    await this.#lock.run(async () => {
      const h = this.#held.get(key) ?? { root, n: 0 }
      h.n += 1
      this.#held.set(key, h)
    })
    let released = false
    return () => {
      if (released) return
      released = true
      const h = this.#held.get(key)
      if (h === undefined) return
      h.n -= 1
      if (h.n <= 0) this.#held.delete(key)
    }
  }

  /**
   * Record `root` as a fetched DAG kept in the cache (or refresh its last use). A root some
   * directory counts is not cache: its blocks stay as long as the directory does.
   */
  async noteCached(root: CID, signal?: AbortSignal): Promise<void> {
    if (!isStored(root) || (await this.refCount(root)) > 0) return
    const known = await this.cache.get(root)
    const bytes = known?.bytes ?? (await this.#dagBytes(root, newWalkMemo(), new Set(), signal)).bytes
    await this.cache.record({ root, usedAt: Date.now(), bytes })
    if (known !== undefined) return
    this.#cacheBytes += bytes
    if (this.#cacheBytes > this.#cacheMaxBytes) this.collector.request()
  }

  /** The blocks `root` reaches that are held and not in `seen`, and their bytes. */
  async #dagBytes(root: CID, memo: WalkMemo, seen: Set<string>, signal?: AbortSignal): Promise<{ keys: Set<string>; bytes: number }> {
    const keys = new Set<string>()
    let bytes = 0
    let rawRoot: CID | undefined
    await walkReachable(
      root,
      this.init.getLocal,
      (b) => {
        if (seen.has(b.key) || keys.has(b.key)) return false
        keys.add(b.key)
        if (b.size === undefined) rawRoot = b.cid
        else bytes += b.size
        return true
      },
      { signal, memo, onMissing: () => {} },
    )
    if (rawRoot !== undefined) {
      // a raw root has no link carrying its size: read it (one block)
      bytes += await this.init.getLocal(rawRoot, signal).then(
        (b) => b.length,
        () => 0,
      )
    }
    return { keys, bytes }
  }

  // ---- collection ---------------------------------------------------------------------------

  /**
   * Mark and sweep: delete every block that no counted directory root, hold, cached DAG (within
   * `cacheMaxBytes`, most recently used first), change in progress or Helia pin keeps, and make the
   * reference counts match the walk. The blockstore is listed first, outside the lock: a block
   * written after that is never swept by this collection. Marking and sweeping run under the commit
   * lock, so no directory changes root meanwhile; imports go on, their blocks kept by `begin`.
   */
  async collectGarbage(signal?: AbortSignal): Promise<GcReport> {
    const started = performance.now()
    const tempFiles = await this.#sweepTempFiles()
    const stored: CID[] = []
    for await (const { cid } of this.init.blockstore.getAll({ signal })) stored.push(cid)
    return this.#lock.run(async () => {
      const { roots, expired, sessionRoots } = await this.#countedRoots()
      const memo = newWalkMemo()
      const missing = new Set<string>()
      const onMissing = (cid: CID) => missing.add(blockKey(cid))
      // every occurrence under every counted root: the true reference counts
      const counts = new Map<string, number>()
      for (const root of roots) {
        const count = (b: { key: string }) => {
          counts.set(b.key, (counts.get(b.key) ?? 0) + 1)
          return true
        }
        await walkReachable(root, this.init.getLocal, count, { signal, memo, onMissing })
      }
      const countsRepaired = await this.#rewriteCounts(counts)
      const marked = new Set(counts.keys())
      const referenced = marked.size
      for (const root of [...this.#live.values(), ...[...this.#held.values()].map((h) => h.root)]) {
        const mark = (b: { key: string }) => {
          if (marked.has(b.key)) return false
          marked.add(b.key)
          return true
        }
        await walkReachable(root, this.init.getLocal, mark, { signal, memo, onMissing: () => {} })
      }
      const cache = await this.#markCache(marked, memo, signal)
      let freed = 0
      let kept = 0
      for (const cid of stored) {
        if (marked.has(blockKey(cid))) continue
        signal?.throwIfAborted()
        const outcome = await this.#delete(cid)
        if (outcome === 'deleted') freed++
        else if (outcome === 'kept') kept++
      }
      return {
        blocks: stored.length,
        referenced,
        cached: cache.blocks,
        cachedBytes: cache.bytes,
        evicted: cache.evicted,
        kept,
        freed,
        countsRepaired,
        missing: [...missing].filter((k) => counts.has(k)).length,
        tempFiles,
        expired,
        sessionRoots,
        ms: Math.round(performance.now() - started),
      }
    })
  }

  /**
   * Every root the counts include: each local peer's directory, and the empty directory. The root of
   * a session peer that is not running and has not stored or stopped for `sessionRootRetentionMs` is
   * dropped first (its blocks are then swept unless something else keeps them).
   */
  async #countedRoots(): Promise<{ roots: CID[]; expired: number; sessionRoots: number }> {
    const stamps = new Map<string, number>()
    for await (const { key, value } of this.init.datastore.query({ prefix: SESSIONS }))
      stamps.set(key.toString().slice(SESSIONS.length), Number(new TextDecoder().decode(value)))
    const cutoff = Date.now() - (this.init.sessionRootRetentionMs ?? 7 * 24 * 3600 * 1000)
    const drop = this.init.datastore.batch()
    const roots: CID[] = []
    let expired = 0
    let sessionRoots = 0
    let stale = false
    const seen = new Set<string>()
    for await (const { key, value } of this.init.datastore.query({ prefix: ROOTS })) {
      const peerId = key.toString().slice(ROOTS.length)
      seen.add(peerId)
      const stamp = stamps.get(peerId)
      if (stamp !== undefined && !this.#live.has(peerId)) {
        // a stamp that does not parse counts as expired: it cannot say the root is recent
        if (!(stamp >= cutoff)) {
          drop.delete(key)
          drop.delete(new Key(SESSIONS + peerId))
          this.#sizes?.delete(peerId)
          expired++
          continue
        }
        sessionRoots++
      }
      const root = parseRoot(value)
      if (root === undefined) this.init.log?.(`files: ${key} does not hold a CID; ignored`)
      else roots.push(root)
    }
    // a stamp whose root was never saved (a commit that failed after stamping)
    for (const peerId of stamps.keys()) {
      if (seen.has(peerId) || this.#live.has(peerId)) continue
      drop.delete(new Key(SESSIONS + peerId))
      stale = true
    }
    if (expired > 0 || stale) await drop.commit()
    return { roots, expired, sessionRoots }
  }

  /** Make the stored counts equal `counts`; returns how many were wrong. */
  async #rewriteCounts(counts: Map<string, number>): Promise<number> {
    const batch = this.init.datastore.batch()
    const seen = new Set<string>()
    let wrong = 0
    for await (const { key, value } of this.init.datastore.query({ prefix: REFS })) {
      const k = key.toString().slice(REFS.length)
      seen.add(k)
      const want = counts.get(k)
      if (want === undefined) batch.delete(key)
      else if (Number(new TextDecoder().decode(value)) !== want) batch.put(key, new TextEncoder().encode(String(want)))
      else continue
      wrong++
    }
    for (const [k, n] of counts) {
      if (seen.has(k)) continue
      batch.put(new Key(REFS + k), new TextEncoder().encode(String(n)))
      wrong++
    }
    if (wrong > 0) await batch.commit()
    return wrong
  }

  /**
   * Mark cached DAGs, most recently used first, while their blocks (those not marked already) fit
   * in `cacheMaxBytes`; evict the entries that do not, and those a directory now references.
   */
  async #markCache(marked: Set<string>, memo: WalkMemo, signal?: AbortSignal): Promise<{ blocks: number; bytes: number; evicted: number }> {
    const evict: CacheEntry[] = []
    let blocks = 0
    let bytes = 0
    let full = false
    for (const entry of await this.cache.list()) {
      if (full || marked.has(blockKey(entry.root))) {
        evict.push(entry)
        continue
      }
      const dag = await this.#dagBytes(entry.root, memo, marked, signal)
      if (dag.keys.size === 0 || bytes + dag.bytes > this.#cacheMaxBytes) {
        // least recently used from here on: evicted
        full = dag.keys.size > 0
        evict.push(entry)
        continue
      }
      for (const k of dag.keys) marked.add(k)
      blocks += dag.keys.size
      bytes += dag.bytes
    }
    await this.cache.evict(evict.map((e) => e.root))
    this.#cacheBytes = bytes
    return { blocks, bytes, evicted: evict.length }
  }

  /**
   * Remove temp files the blockstore's atomic writes left behind (a write interrupted by a crash):
   * those older than this store or than any write takes. Best effort.
   */
  async #sweepTempFiles(): Promise<number> {
    const dir = this.init.blocksDir
    if (dir === undefined) return 0
    const cutoff = Math.max(this.#openedAt, Date.now() - TEMP_FILE_AGE_MS)
    let removed = 0
    const shards = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const shard of shards) {
      if (!shard.isDirectory()) continue
      const names = await readdir(join(dir, shard.name)).catch(() => [] as string[])
      for (const name of names) {
        if (!name.startsWith('.') || !name.endsWith('.tmp')) continue
        const path = join(dir, shard.name, name)
        const info = await stat(path).catch(() => undefined)
        if (info === undefined || info.mtimeMs >= cutoff) continue
        if (
          await unlink(path).then(
            () => true,
            () => false,
          )
        )
          removed++
      }
    }
    return removed
  }
}

function parseRoot(value: Uint8Array): CID | undefined {
  try {
    return CID.parse(new TextDecoder().decode(value))
  } catch {
    return undefined
  }
}
