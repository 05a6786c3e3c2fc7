/**
 * One local peer's files: its UnixFS directory (every change serialised, so concurrent stores all
 * land), listing, reading, fetching by CID with a fallback peer, and the p2p-webapp responder.
 */
import { unixfs, type UnixFS } from '@helia/unixfs'
import { peerIdFromString } from '@libp2p/peer-id'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { type BlockGetter, decodeNode, parsePath, RAW_CODEC, walkBlocks } from '../../p2p/files/directory.ts'
import type { FileList } from '../../p2p/files/frame-codec.ts'
import { goJson, goMap } from '../../p2p/files/frame-codec.ts'
import { detectContentType, SNIFF_BYTES, sniffMime } from '../../p2p/files/mime.ts'
import type { SwitchboardHelia } from '../../p2p/node-factory.ts'
import { InvalidInputError } from '../../p2p/validate.ts'
import { treeSize } from '../../p2p/files/reachable.ts'
import { ContentTooLargeError, FileNotFoundError, FilesError, NotUnixFsError } from './errors.ts'
import { deadline, IdleDeadline } from './deadline.ts'
import { type EditContext, type EntryKind, fileBytesAt, isNotFound, removePath, setPath } from './directory-edit.ts'
import type { StagedFile } from '../../p2p/atomic-file.ts'
import { CoalescedWrite, SaveError } from '../../p2p/coalesced-write.ts'
import { Serial } from '../../p2p/serial.ts'
import type { FileStore } from './file-store.ts'
import { type OnViolation, type ProtocolLimits, requestFile, requestFileList, serveP2pWebapp } from './p2p-webapp.ts'
import { eagerRawLeaves } from './eager-import.ts'
import { readAhead } from './read-ahead.ts'
import { acceptReply, type GotFile } from './received.ts'
import { checkUploadSize, limitedUpload, type UploadLimits } from './upload-limits.ts'

export interface FilesConfig {
  shardSplitThresholdBytes: number
  getFileTimeoutMs: number
  getFileFallbackTimeoutMs: number
  listFilesTimeoutMs: number
  /** Largest p2p-webapp reply frame read or written. */
  frameMaxBytes: number
  /** Topic that hears `p2p-webapp-file-update` after each change, when this peer is subscribed; '' for none. */
  updateNotifyTopic: string
  /** A streamed upload that sends nothing for this long is aborted (408). */
  uploadIdleMs: number
  /** Largest file stored (413 above). */
  maxFileBytes: number
  /** Most bytes this peer's directory may hold (413 above). */
  peerQuotaBytes: number
  /** Most bytes all local peers' directories, running or saved, may hold together (413 above). */
  totalQuotaBytes: number
}

/** Where a persistent peer's root is saved (root-file.ts): whole, or staged and committed later. */
export interface RootPersistence {
  save(root: CID): Promise<void>
  stage(root: CID): Promise<StagedFile>
}

export interface FileServiceInit {
  alias: string
  helia: SwitchboardHelia
  store: FileStore
  config: FilesConfig
  /** Saves the root before it counts (persistent peers); absent for session peers, whose saved root expires. */
  persistRoot?: RootPersistence
  onViolation: OnViolation
  /** `fileAccess: known`: whether a remote peer may list and fetch over /p2p-webapp/1.0.0; absent: everyone may. */
  mayRead?: (peerId: string) => boolean
  log: (msg: string) => void
}

/** The store's permanent reference to the empty directory (not a peer id, so it never clashes). */
const EMPTY_DIRECTORY_HOLDER = 'empty-directory'

/** How much of a file one exporter read may buffer ahead (see cat). */
const CAT_WINDOW_BYTES = 8 * 1024 * 1024
/** Windows fetched ahead of the one being read (see cat). */
const CAT_WINDOWS_AHEAD = 1

export class FileService {
  readonly alias: string
  readonly peerId: string
  #root!: CID
  readonly #changes = new Serial()
  readonly #reader: UnixFS
  #listCache: { root: CID; list: FileList } | undefined
  #unhandle: (() => Promise<void>) | undefined
  readonly #changeListeners = new Set<(root: CID) => void>()
  /** Saves of the directory root, grouped (persistent peers only): each writes the root current when it starts. */
  readonly #rootSaves: CoalescedWrite | undefined
  /** The root file of a change not yet applied, written ahead while its blocks are (see #stageRoot). */
  #staged: { root: CID; file: Promise<StagedFile | undefined> } | undefined
  /** Changes applied and not yet saved, counted and announced. */
  readonly #settling = new Set<Promise<void>>()

  constructor(readonly init: FileServiceInit) {
    this.alias = init.alias
    this.peerId = init.helia.libp2p.peerId.toString()
    this.#reader = unixfs(init.helia)
    const persist = init.persistRoot
    this.#rootSaves =
      persist === undefined ? undefined : new CoalescedWrite(() => this.#saveRoot(persist), { what: `${init.alias}'s directory root` })
  }

  get root(): CID {
    return this.#root
  }

  /** The directory root now; the collector keeps what it reaches even if counting it failed. */
  #setRoot(root: CID): void {
    this.#root = root
    this.init.store.liveRoot(this.peerId, root)
  }

  get #limits(): ProtocolLimits {
    return { maxFrameBytes: this.init.config.frameMaxBytes, timeoutMs: this.init.config.getFileFallbackTimeoutMs }
  }

  /**
   * Take `root` as the directory (counted at once: this repairs the counts after a crash), or an
   * empty one, then answer p2p-webapp requests. An empty start commits nothing: the directory this
   * peer id had before stays counted until its first change or `restore`, so `peer {rootDirectory}`
   * right after start still finds its blocks.
   */
  async start(root: CID | undefined): Promise<void> {
    if (root === undefined) {
      this.#setRoot(await this.#emptyDirectory())
    } else {
      this.#setRoot(root)
      await this.init.store
        .commit(this.peerId, root)
        .catch((err: Error) => this.init.log(`files ${this.alias}: cannot count directory ${root}: ${err.message}`))
    }
    this.#unhandle = await serveP2pWebapp(
      this.init.helia.libp2p,
      { list: (signal) => this.list(signal), reader: this.#reader, getLocal: this.getLocal },
      { maxFrameBytes: this.init.config.frameMaxBytes, timeoutMs: this.init.config.listFilesTimeoutMs },
      this.init.onViolation,
      this.init.mayRead,
    )
  }

  /** Stop answering; waits for the change in progress. */
  async stop(): Promise<void> {
    await this.#unhandle?.().catch(() => {})
    await this.#changes.run(async () => {})
    await Promise.allSettled([...this.#settling])
    this.init.store.liveRoot(this.peerId, undefined)
    if (this.#session)
      await this.init.store
        .sessionStopped(this.peerId)
        .catch((err: Error) => this.init.log(`files ${this.alias}: cannot note the session's stop: ${err.message}`))
  }

  /** A session peer's saved root is kept only for a while after it stops (sessionRootRetentionMs). */
  get #session(): boolean {
    return this.init.persistRoot === undefined
  }

  /** The empty directory, held by the store for good: every fresh directory starts from it uncounted. */
  async #emptyDirectory(): Promise<CID> {
    const op = this.init.store.begin(this.init.helia.blockstore)
    try {
      const empty = await unixfs({ blockstore: op.blocks }).addDirectory()
      await this.init.store.commit(EMPTY_DIRECTORY_HOLDER, empty)
      return empty
    } finally {
      op.release()
    }
  }

  /** Reads a block already held, never the network. */
  readonly getLocal: BlockGetter = (cid, signal) => toBuffer(this.init.helia.blockstore.get(cid, { offline: true, signal }))

  // ---- changes ------------------------------------------------------------------------------

  /** Call `listener` after every change of the directory (store, remove, restore) with its new root; returns unsubscribe. */
  onChange(listener: (root: CID) => void): () => void {
    this.#changeListeners.add(listener)
    return () => this.#changeListeners.delete(listener)
  }

  /** Bytes the directory holds now (its root's cumulative size). */
  async usage(signal?: AbortSignal): Promise<number> {
    return treeSize(await this.getLocal(this.#root, signal), this.#root)
  }

  /** The limits a file stored at `names` meets now: what the directory holds, less the file it replaces. */
  async #uploadLimits(names: string[], signal?: AbortSignal): Promise<UploadLimits> {
    const { maxFileBytes, peerQuotaBytes, totalQuotaBytes } = this.init.config
    let replaced = 0
    try {
      replaced = await fileBytesAt(this.#edit(undefined, this.#reader, signal), this.#root, names)
    } catch {
      // nothing there to replace (or a file in the way, which the edit itself reports as 409)
    }
    return {
      maxFileBytes,
      quotaBytes: peerQuotaBytes,
      quotaLeft: peerQuotaBytes - (await this.usage(signal)) + replaced,
      totalQuotaBytes,
      totalLeft: totalQuotaBytes - (await this.init.store.storedBytes(signal)) + replaced,
      alias: this.alias,
    }
  }

  /**
   * Store a file (content bytes or a stream) or a directory at `path`, creating missing parents and
   * replacing what was there; a directory that already exists keeps its content. A file over
   * `maxFileBytes`, or one that would take the directory over `peerQuotaBytes`, is refused (413):
   * up front by `declaredBytes` (a stream's announced length) or its length, while it streams, and
   * against the new directory's size; a stream that stalls for `uploadIdleMs` is aborted (408).
   * Blocks an aborted import wrote are left to the collector, which is asked to run.
   */
  async storeFile(
    path: string,
    content: Uint8Array | AsyncIterable<Uint8Array> | undefined,
    directory: boolean,
    signal?: AbortSignal,
    declaredBytes?: number,
  ): Promise<{ fileCid: CID; rootCid: CID }> {
    const names = parsePath(path)
    if (directory && content !== undefined) throw new InvalidInputError('content', 'a directory has no content')
    if (!directory && content === undefined) throw new InvalidInputError('content', 'is required for a file (directory is false)')
    let stream: AsyncIterable<Uint8Array> | undefined
    if (content !== undefined) {
      const limits = await this.#uploadLimits(names, signal)
      checkUploadSize(content instanceof Uint8Array ? content.length : (declaredBytes ?? 0), limits)
      if (!(content instanceof Uint8Array)) stream = limitedUpload(content, limits, this.init.config.uploadIdleMs, signal)
    }
    const op = this.init.store.begin(this.init.helia.blockstore)
    let failed = false
    const leaves = eagerRawLeaves()
    try {
      const writer = unixfs({ blockstore: op.blocks })
      // the content is imported outside the lock: only the directory update is serialised; its
      // leaves are written as they come in, behind the import (eager-import.ts)
      const options = { signal, bufferImporter: leaves.bufferImporter }
      const fileCid =
        content === undefined
          ? undefined
          : content instanceof Uint8Array
            ? await writer.addBytes(content, options)
            : await writer.addByteStream(stream as AsyncIterable<Uint8Array>, options)
      const { root, cid, settle } = await this.#changes.run(async () => {
        signal?.throwIfAborted()
        const { root, cid, written } = await setPath(this.#edit(op, writer, signal), this.#root, names, fileCid)
        const changed = !root.equals(this.#root)
        if (changed) this.#stageRoot(root)
        // the file's leaves are written behind the import (eager-import.ts) and the edit's nodes
        // behind the edit: all on disk before a root that names them is saved. The quota check
        // reads the new root as soon as it lands. All three end before the change does.
        const checks = await Promise.allSettled([written, leaves.written(), changed ? this.#checkQuota(root, signal) : undefined])
        const failed = checks.find((c) => c.status === 'rejected')
        if (failed !== undefined) {
          this.#dropStaged(root)
          throw failed.reason
        }
        return { root, cid, settle: changed ? this.#apply(root) : undefined }
      })
      await settle?.()
      return { fileCid: cid, rootCid: root }
    } catch (err) {
      failed = true
      throw err
    } finally {
      // a failed import may leave leaf writes running: they are the change's until they end
      if (failed) await leaves.settled()
      op.release()
      // what the failed change wrote is referenced by nothing: collect it
      if (failed && op.written() > 0) this.init.store.collector.request()
    }
  }

  /** The new root may not hold more than the quotas, unless the change shrinks it. */
  async #checkQuota(root: CID, signal?: AbortSignal): Promise<void> {
    const { peerQuotaBytes: quota, totalQuotaBytes } = this.init.config
    const after = treeSize(await this.getLocal(root, signal), root)
    const before = await this.usage(signal)
    if (after <= before) return
    if (after > quota)
      throw new ContentTooLargeError(
        `quota: ${this.alias}'s directory would hold ${after} bytes, over its quota of ${quota} bytes (filePeerQuotaBytes)`,
      )
    const total = (await this.init.store.storedBytes(signal)) - before + after
    if (total > totalQuotaBytes) {
      throw new ContentTooLargeError(
        `quota: all local peers' directories would hold ${total} bytes, over the daemon's total of ${totalQuotaBytes} bytes (fileTotalQuotaBytes)`,
      )
    }
  }

  /** Remove a file or a whole subtree; 404 when the path does not exist. */
  async removeFile(path: string, signal?: AbortSignal): Promise<CID> {
    const names = parsePath(path)
    const op = this.init.store.begin(this.init.helia.blockstore)
    try {
      const writer = unixfs({ blockstore: op.blocks })
      const { root, settle } = await this.#changes.run(async () => {
        const root = await removePath(this.#edit(op, writer, signal), this.#root, names)
        return { root, settle: this.#apply(root) }
      })
      await settle()
      return root
    } finally {
      op.release()
    }
  }

  /**
   * Replace the directory with the one at `root` (a session peer's `rootDirectory`): it must be a
   * UnixFS directory; its directory blocks are fetched (network allowed) so it can be counted.
   */
  async restore(root: CID, signal?: AbortSignal): Promise<void> {
    // what the walk fetches is kept from the collector until the root is counted
    const release = await this.init.store.hold(root)
    try {
      await this.#fetchDirectory(root, signal)
      await (await this.#changes.run(async () => this.#apply(root)))()
    } finally {
      release()
    }
  }

  async #fetchDirectory(root: CID, signal?: AbortSignal): Promise<void> {
    const bounded = deadline(this.init.config.getFileFallbackTimeoutMs, `rootDirectory ${root}`, signal)
    try {
      const get: BlockGetter = (cid, s) => toBuffer(this.init.helia.blockstore.get(cid, { signal: s }))
      const node = decodeNode(root, await get(root, bounded.signal))
      if (node.kind !== 'directory' && node.kind !== 'hamt')
        throw new InvalidInputError('rootDirectory', `${root} is not a UnixFS directory`)
      await walkBlocks(root, get, [], bounded.signal)
    } catch (err) {
      if (err instanceof InvalidInputError) throw err
      if (bounded.signal.aborted) {
        throw new FileNotFoundError(
          `rootDirectory ${root} was not found locally or on the network (a stopped session peer's directory is kept for sessionRootRetentionMs after it last stored or stopped)`,
        )
      }
      throw err
    } finally {
      bounded.clear()
    }
  }

  /**
   * Under the change lock: `root` is the directory from now on (the next change builds on it).
   * Returns what the change awaits after the lock, before it is acknowledged: the root saved (saves
   * of changes made while one is being written are grouped into the next write: one fsync for all
   * of them) and counted, side by side (what the old root alone used is freed only once the new one
   * is on disk: see FileStore.commit), then announced. A save that fails is thrown to the change
   * (the counts stay with the saved root); its root stays the running one, and the next save that
   * lands includes it.
   */
  #apply(root: CID): () => Promise<void> {
    this.#setRoot(root)
    const durable = this.#rootSaves?.changed()
    const settled = (async () => {
      // should counting fail once the root is saved, the next commit or start-up repairs it
      const counted = this.init.store
        .commit(this.peerId, root, undefined, { session: this.#session, ...(durable === undefined ? {} : { durable }) })
        .then(
          () => undefined,
          (err: Error) => {
            if (err instanceof SaveError) return
            this.init.log(`files ${this.alias}: counting ${root} failed: ${err.message}`)
          },
        )
      const [saved] = await Promise.allSettled([durable, counted])
      if (saved.status === 'rejected') throw saved.reason
      this.#notify()
      for (const listener of this.#changeListeners) {
        try {
          listener(root)
        } catch (err) {
          this.init.log(`files ${this.alias}: a change listener failed: ${(err as Error).message}`)
        }
      }
    })()
    this.#settling.add(settled)
    const forget = () => this.#settling.delete(settled)
    settled.then(forget, forget)
    return () => settled
  }

  /**
   * Start writing the root file for `root` before its change is applied: the temp file and its
   * fsync run while the blocks it names are still being written, and the save (#saveRoot) only
   * renames it into place once they have landed. Only when no save is under way: saves of changes
   * made meanwhile are grouped into one write, which this would only add an fsync to.
   */
  #stageRoot(root: CID): void {
    const persist = this.init.persistRoot
    if (persist === undefined || this.#rootSaves?.idle !== true) return
    this.#dropStaged()
    this.#staged = {
      root,
      // a staging that fails is no error yet: the save writes the file whole
      file: persist.stage(root).catch(() => undefined),
    }
  }

  /** Remove the staged root file: the one for `root` (its change failed), or whichever there is. */
  #dropStaged(root?: CID): void {
    const staged = this.#staged
    if (staged === undefined || (root !== undefined && !staged.root.equals(root))) return
    this.#staged = undefined
    void staged.file.then((file) => file?.discard())
  }

  /** The coalesced save: the running root, from the file staged for it when there is one. */
  async #saveRoot(persist: RootPersistence): Promise<void> {
    const root = this.#root
    const staged = this.#staged
    if (staged?.root.equals(root) === true) {
      this.#staged = undefined
      const file = await staged.file
      if (file !== undefined) return file.commit()
    } else {
      this.#dropStaged()
    }
    return persist.save(root)
  }

  /**
   * What a directory edit works with: `writer` and `op` (the change's blockstore: none for a
   * lookup, which writes nothing), the store's local reads (the blockstore itself, without the
   * locking and network fallback of Helia's).
   */
  #edit(op: ReturnType<FileStore['begin']> | undefined, writer: UnixFS, signal?: AbortSignal): EditContext {
    return {
      writer,
      // the nodes an edit makes go straight to the store (FileStore.begin)
      blocks: op?.local ?? this.init.helia.blockstore,
      get: this.init.store.init.getLocal,
      ...(op === undefined ? {} : { rawSize: op.rawSize }),
      shardSplitThresholdBytes: this.init.config.shardSplitThresholdBytes,
      ...(signal === undefined ? {} : { signal }),
    }
  }

  /** Tell the update topic, best effort, as p2p-webapp does: only when this peer is subscribed. */
  #notify(): void {
    const topic = this.init.config.updateNotifyTopic
    if (topic === '') return
    const pubsub = this.init.helia.libp2p.services.pubsub
    if (!pubsub.getTopics().includes(topic)) return
    const message = new TextEncoder().encode(goJson(goMap({ type: 'p2p-webapp-file-update', peer: this.peerId })))
    pubsub
      .publish(topic, message)
      .catch((err: Error) => this.init.log(`files ${this.alias}: update notification on ${topic} failed: ${err.message}`))
  }

  // ---- reading ------------------------------------------------------------------------------

  /** Every path of the directory with its type, CID and (files) MIME type. */
  async list(signal?: AbortSignal): Promise<FileList> {
    const root = this.#root
    if (this.#listCache?.root.equals(root)) return this.#listCache.list
    const list = await this.listRoot(root, signal)
    this.#listCache = { root, list }
    return list
  }

  /** The listing `list` gives, of any directory whose blocks are held (a replica of another peer's). */
  async listRoot(root: CID, signal?: AbortSignal): Promise<FileList> {
    const entries: FileList['entries'] = {}
    const walk = async (dir: CID, prefix: string): Promise<void> => {
      for await (const entry of this.#reader.ls(dir, { offline: true, signal })) {
        const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`
        const kind = await this.kindOf(entry.cid, signal)
        if (kind === 'directory') {
          entries[path] = { type: 'directory', cid: entry.cid.toString() }
          await walk(entry.cid, path)
        } else if (kind === 'file') {
          entries[path] = { type: 'file', cid: entry.cid.toString(), mimeType: sniffMime(await this.#head(entry.cid, signal), entry.name) }
        }
      }
    }
    await walk(root, '')
    return { cid: root.toString(), entries }
  }

  /** File, directory, or neither (symlinks, foreign codecs); from local blocks. */
  async kindOf(cid: CID, signal?: AbortSignal): Promise<EntryKind | undefined> {
    const node = decodeNode(cid, cid.code === RAW_CODEC ? new Uint8Array(0) : await this.getLocal(cid, signal))
    return node.kind === 'directory' || node.kind === 'hamt'
      ? 'directory'
      : node.kind === 'file' || node.kind === 'raw'
        ? 'file'
        : undefined
  }

  /** The first bytes of a local file (for sniffing); empty when they are not held. */
  async #head(cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      return await toBuffer(this.#reader.cat(cid, { length: SNIFF_BYTES, offline: true, signal }))
    } catch {
      return new Uint8Array(0)
    }
  }

  /** What `path` names in this peer's directory. */
  async resolve(path: string, signal?: AbortSignal): Promise<{ cid: CID; kind: EntryKind; name: string }> {
    const names = parsePath(path)
    try {
      const stat = await this.#reader.stat(this.#root, { path: names.join('/'), offline: true, signal })
      return { cid: stat.cid, kind: stat.type === 'directory' ? 'directory' : 'file', name: names[names.length - 1] as string }
    } catch (err) {
      if (isNotFound(err)) throw new FileNotFoundError(`path: ${names.join('/')} does not exist`)
      throw err
    }
  }

  /**
   * Stream a file's bytes (network allowed), from `offset` for `length` bytes, in windows: the
   * UnixFS exporter reads a file's blocks as fast as it can into an unbounded queue, so a slow
   * reader of one large cat would hold the whole file; windows bound that. The next window is
   * already being fetched while this one is read (CAT_WINDOWS_AHEAD), so the want list never runs
   * dry at a window's end: at most that many windows more are held.
   */
  async *cat(cid: CID, opts: { offset?: number; length?: number; signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array> {
    const start = opts.offset ?? 0
    const end = opts.length === undefined ? Number((await this.stat(cid, opts.signal)).size) : start + opts.length
    // a window whose first chunk is asked for at once: the exporter starts fetching its blocks then
    const open = (at: number) =>
      readAhead(this.#reader.cat(cid, { offset: at, length: Math.min(CAT_WINDOW_BYTES, end - at), signal: opts.signal }))
    const windows: Array<ReturnType<typeof open>> = []
    let next = start
    try {
      while (windows.length > 0 || next < end) {
        while (next < end && windows.length <= CAT_WINDOWS_AHEAD) {
          windows.push(open(next))
          next += CAT_WINDOW_BYTES
        }
        yield* (windows.shift() as ReturnType<typeof open>).stream
      }
    } finally {
      for (const w of windows) w.cancel()
    }
  }

  /** Size and kind of any CID (network allowed, bounded by `signal`). */
  async stat(cid: CID, signal?: AbortSignal): Promise<{ kind: EntryKind; size: bigint }> {
    const stat = await this.#reader.stat(cid, { signal })
    return { kind: stat.type === 'directory' ? 'directory' : 'file', size: stat.size }
  }

  /** Immediate entries of a directory CID, name -> CID (network allowed). */
  async entries(cid: CID, signal?: AbortSignal, progress?: () => void): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for await (const e of this.#reader.ls(cid, { signal })) {
      out[e.name] = e.cid.toString()
      progress?.()
    }
    return out
  }

  // ---- getfile ------------------------------------------------------------------------------

  /**
   * A file's bytes or a directory's entries by CID: from local blocks and bitswap until they stall
   * for `getFileTimeoutMs`, then from `fallback` over p2p-webapp's protocol (verified and cached).
   * Files over `maxBytes` are refused (413): they go through HTTP.
   */
  async getFile(cid: CID, fallback: string | undefined, maxBytes: number, signal?: AbortSignal): Promise<GotFile> {
    return this.withFetched(cid, () => this.#getFile(cid, fallback, maxBytes, signal))
  }

  /**
   * Run `read` (a fetch of `cid`'s DAG) with what it reaches kept from the collector; when it
   * succeeds, the DAG is recorded in the cache of fetched blocks (or its last use refreshed).
   */
  async withFetched<T>(cid: CID, read: () => Promise<T>): Promise<T> {
    const fetch = await this.beginFetch(cid)
    let ok = false
    try {
      const result = await read()
      ok = true
      return result
    } finally {
      await fetch.finish(ok)
    }
  }

  /**
   * withFetched for a read that outlives a call (a streamed response): `finish` when it ends. Only
   * the first `finish` counts, so a caller may call it from every way the read can end.
   */
  async beginFetch(cid: CID): Promise<{ finish(ok: boolean): Promise<void> }> {
    const release = await this.init.store.hold(cid)
    let finished: Promise<void> | undefined
    const finish = async (ok: boolean) => {
      try {
        if (ok)
          await this.init.store
            .noteCached(cid)
            .catch((err: Error) => this.init.log(`files ${this.alias}: cannot record ${cid} in the cache: ${err.message}`))
      } finally {
        release()
      }
    }
    return { finish: (ok) => (finished ??= finish(ok)) }
  }

  async #getFile(cid: CID, fallback: string | undefined, maxBytes: number, signal?: AbortSignal): Promise<GotFile> {
    const idle = new IdleDeadline(this.init.config.getFileTimeoutMs, `getfile ${cid}`, signal)
    try {
      return await this.#fetch(cid, maxBytes, idle)
    } catch (err) {
      if (err instanceof FilesError || fallback === undefined || signal?.aborted) throw err
      const reason = (err as Error).message
      try {
        return await this.fetchFrom(fallback, cid, maxBytes, signal)
      } catch (fallbackErr) {
        throw new Error(
          `not found locally or through the network (${reason}); fallback peer ${fallback}: ${(fallbackErr as Error).message}`,
        )
      }
    } finally {
      idle.clear()
    }
  }

  async #fetch(cid: CID, maxBytes: number, idle: IdleDeadline): Promise<GotFile> {
    const block = await toBuffer(this.init.helia.blockstore.get(cid, { signal: idle.signal }))
    idle.touch()
    const node = decodeNode(cid, block)
    if (node.kind === 'directory' || node.kind === 'hamt')
      return { type: 'directory', entries: await this.entries(cid, idle.signal, () => idle.touch()) }
    if (node.kind !== 'raw' && node.kind !== 'file') throw new NotUnixFsError(`cid: ${cid} is neither a UnixFS file nor a directory`)
    const size = node.kind === 'raw' ? BigInt(block.length) : (node.unixfs?.fileSize() ?? 0n)
    if (size > BigInt(maxBytes))
      throw new ContentTooLargeError(
        `${cid} is ${size} bytes, over the ${maxBytes} bytes a WebSocket frame can carry; fetch GET /ipfs/${cid} instead`,
      )
    const chunks: Uint8Array[] = []
    for await (const chunk of this.#reader.cat(cid, { signal: idle.signal })) {
      chunks.push(chunk)
      idle.touch()
    }
    const content = new Uint8Array(Buffer.concat(chunks))
    return { type: 'file', mimeType: detectContentType(content), content }
  }

  /** Ask `peer` for `cid` over p2p-webapp's protocol; verify, cache, return it. */
  async fetchFrom(peer: string, cid: CID, maxBytes: number, signal?: AbortSignal): Promise<GotFile> {
    const reply = await requestFile(
      this.init.helia.libp2p,
      peerIdFromString(peer),
      cid.toString(),
      this.#limits,
      this.init.onViolation,
      signal,
    )
    const op = this.init.store.begin(this.init.helia.blockstore)
    try {
      return await acceptReply(cid, reply, op.blocks, maxBytes)
    } catch (err) {
      if ((err as Error).name === 'UnverifiableContentError') this.init.onViolation(peer, 'malformed-frame', (err as Error).message)
      throw err
    } finally {
      op.release()
    }
  }

  /** Another peer's file list over p2p-webapp's protocol. */
  listRemote(peer: string, signal?: AbortSignal): Promise<FileList> {
    const limits = { maxFrameBytes: this.init.config.frameMaxBytes, timeoutMs: this.init.config.listFilesTimeoutMs }
    return requestFileList(this.init.helia.libp2p, peerIdFromString(peer), limits, this.init.onViolation, signal)
  }
}
