/**
 * Sync as a node service: each local node keeps a replica of every known peer's directory it has
 * synced, so `listfiles` and `getfile` can answer from it while that peer is offline.
 *
 * A sync asks the peer for its root over `/switchboard/sync/1.0.0`, fetches over bitswap every block
 * of that DAG we lack (held from the collector meanwhile), then makes it the peer's replica in one
 * step: for the persistent node a FileStore commit of the holder `replica:<peerId>` (the counts of
 * the old replica and the new one adjusted at once, what only the old one used freed), listed in
 * `<storageDir>/replicas.json`; a session peer keeps its replicas as in-memory holds. An aborted or
 * failed sync leaves the old replica as it was and references nothing new: blocks it fetched are
 * unreferenced cache for the collector.
 *
 * After every change of this node's own directory, every connected known peer is told (`changed`),
 * best effort; a known peer's notice reaches `onChanged` listeners (the peer actors start a sync).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { DAG_PB_CODEC, decodeNode } from '../../p2p/files/directory.ts'
import type { FileList } from '../../p2p/files/frame-codec.ts'
import { treeSize } from '../../p2p/files/reachable.ts'
import type { NodeHandle } from '../../p2p/node-factory.ts'
import type { Reputation } from '../../p2p/reputation.ts'
import { KeyedSerial } from '../../p2p/serial.ts'
import type { ActivityLog } from '../activity-log.ts'
import { IdleDeadline } from '../files/deadline.ts'
import type { FileService } from '../files/file-service.ts'
import { type FileStore, REPLICA_HOLDER_PREFIX } from '../files/file-store.ts'
import type { FilesNodeService } from '../files/files.ts'
import type { OnViolation } from '../files/p2p-webapp.ts'
import type { NodeComponents, NodeService } from '../node/node-runtimes.ts'
import { fetchDag } from './fetch-dag.ts'
import { type Replica, replicasFile, savedReplicas } from './replicas-file.ts'
import { requestBlock, requestRoot, sendChanged, serveSync } from './sync-protocol.ts'

export interface SyncProgress {
  blocksFetched: number
  blocksTotal: number
  bytes: number
}
export interface SyncResult {
  root: string
  blocks: number
  bytes: number
  /** Date.now() when the replica was taken. */
  at: number
}

export interface SyncNodeService extends NodeService {
  /**
   * Ask `peerId` (connected or dialable) for its directory root, fetch every block of that DAG we
   * lack, then make it peerId's replica at once, the previous one released. Progress as blocks
   * arrive (`blocksTotal`: blocks found lacking so far, final once the directory's structure is
   * read). On abort or error: rejects, nothing new held, the previous replica kept.
   */
  sync(peerId: string, opts: { signal: AbortSignal; onProgress?: (p: SyncProgress) => void }): Promise<SyncResult>
  /** The replica root of a peer, if any. */
  replicaRoot(peerId: string): string | undefined
  /** Drop a peer's replica (peers.forget): aborts its sync in progress, releases its holder, frees its blocks. */
  dropReplica(peerId: string): Promise<void>
  /** A known peer told us its files changed. Returns unsubscribe. */
  onChanged(listener: (peerId: string) => void): () => void
  /** The replica of a peer with when it was taken (extension). */
  replica(peerId: string): Replica | undefined
  /** A peer's replica listed as `listfiles` lists a directory; undefined when there is none. */
  listReplica(peerId: string, signal?: AbortSignal): Promise<FileList | undefined>
  /** Whether this node has a connection to the peer now. */
  isConnected(peerId: string): boolean
}

export interface SyncSettings {
  /** One sync protocol exchange (dial included). */
  requestTimeoutMs: number
  /** A sync that receives no block for this long fails. */
  stallTimeoutMs: number
  /** Largest replica taken: a root claiming more, or a fetch passing it, fails. */
  maxReplicaBytes: number
  /** Blocks fetched at once. */
  concurrency?: number
  /** Change notices sent at once. */
  notifyConcurrency?: number
  /** Least time between two progress reports (the last one always goes). */
  progressIntervalMs?: number
  /** A block wanted this long without arriving is wanted again (see #want). */
  rewantMs?: number
}

export interface SyncDeps {
  settings: SyncSettings
  /** Whether `peerId` is a known peer of local node `alias`: only those are answered and told. */
  isKnown(alias: string, peerId: string): boolean
  /** A known peer of local node `alias` told us its files changed (the peer actor syncs again). */
  onChanged?: (alias: string, peerId: string) => void
  reputation: Pick<Reputation, 'violation'>
  activity: Pick<ActivityLog, 'add'>
  log: (msg: string) => void
}

/** Not client-facing: the peer actor records the message. */
class SyncFailedError extends Error {
  override name = 'SyncFailedError'
}

const holderOf = (peerId: string) => `${REPLICA_HOLDER_PREFIX}${peerId}`

export class SyncService implements SyncNodeService {
  readonly #replicas = new Map<string, Replica>()
  /** Session peers: the in-memory hold of each replica. */
  readonly #holds = new Map<string, () => void>()
  readonly #listeners = new Set<(peerId: string) => void>()
  /** One sync per peer at a time. */
  readonly #syncs = new KeyedSerial<string>()
  /** Replica swaps and drops, per peer, in order. */
  readonly #keeps = new KeyedSerial<string>()
  /** Bumped by each drop: a sync begun before it must not keep what it fetched. */
  readonly #generation = new Map<string, number>()
  /** Running syncs' aborts, per peer. */
  readonly #running = new Map<string, Set<AbortController>>()
  readonly #stopping = new AbortController()
  readonly #file: ReturnType<typeof savedReplicas> | undefined
  #saving: Promise<void> = Promise.resolve()
  #unhandle: (() => Promise<void>) | undefined
  #unsubscribe: (() => void) | undefined
  #notifying: Promise<void> | undefined
  #notifyAgain = false

  constructor(
    readonly alias: string,
    readonly handle: NodeHandle,
    readonly files: FileService,
    readonly store: FileStore,
    storageDir: string | undefined,
    readonly deps: SyncDeps,
  ) {
    this.#file = storageDir === undefined ? undefined : savedReplicas(replicasFile(storageDir))
    const { onChanged } = deps
    if (onChanged) this.#listeners.add((peerId) => onChanged(alias, peerId))
  }

  get #persistent(): boolean {
    return this.#file !== undefined
  }

  get #settings() {
    const s = this.deps.settings
    return { concurrency: 32, notifyConcurrency: 4, progressIntervalMs: 100, rewantMs: 1_500, ...s }
  }

  readonly #onViolation: OnViolation = (peerId, reason, detail) => {
    this.deps.reputation.violation(peerId, reason === 'oversized-frame' ? 'flood' : 'malformed-frame')
    this.deps.activity.add({ type: 'error', alias: this.alias, peerId, message: `sync protocol: ${reason} from ${peerId}: ${detail}` })
  }

  async start(): Promise<void> {
    if (this.#file !== undefined) await this.#restore(this.#file)
    this.#unhandle = await serveSync(this.handle.libp2p, {
      isKnown: (peerId) => this.deps.isKnown(this.alias, peerId),
      root: () => this.files.root,
      changed: (peerId) => this.#emitChanged(peerId),
      block: async (cid, signal) =>
        (await this.handle.blockstore.has(cid)) ? toBuffer(this.handle.blockstore.get(cid, { signal })) : undefined,
      onViolation: this.#onViolation,
      timeoutMs: this.#settings.requestTimeoutMs,
    })
    this.#unsubscribe = this.files.onChange(() => this.#notifyPeers())
    // a known peer that connected before the protocol was handled (our peer actors dial at start)
    // may have asked for our root and been refused: told of a change, it syncs again
    this.#notifyPeers()
  }

  /**
   * The saved replicas, matched with the FileStore's counted holders: the counted root wins (a
   * crash between a swap and saving the file); a holder the file does not list is dropped, and a
   * listed replica the store no longer counts is counted again, or dropped if its blocks are gone.
   */
  async #restore(file: ReturnType<typeof savedReplicas>): Promise<void> {
    const saved = await file.load((msg) => {
      this.deps.log(`sync ${this.alias}: ${msg}`)
      this.deps.activity.add({ type: 'error', alias: this.alias, message: `sync: ${msg}` })
    })
    const counted = await this.store.roots(REPLICA_HOLDER_PREFIX)
    let changed = false
    for (const [holder] of counted) {
      const peerId = holder.slice(REPLICA_HOLDER_PREFIX.length)
      if (saved.has(peerId)) continue
      await this.store.forget(holder)
    }
    for (const [peerId, replica] of saved) {
      const root = counted.get(holderOf(peerId))
      if (root !== undefined) {
        if (!root.equals(replica.root)) {
          replica.root = root
          changed = true
        }
      } else {
        try {
          await this.store.commit(holderOf(peerId), replica.root)
        } catch (err) {
          this.deps.log(`sync ${this.alias}: the replica of ${peerId} (${replica.root}) cannot be kept: ${(err as Error).message}`)
          saved.delete(peerId)
          changed = true
          continue
        }
      }
      this.#replicas.set(peerId, replica)
    }
    if (changed) await this.#save()
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.()
    this.#stopping.abort(new SyncFailedError(`local node ${this.alias} is stopping`))
    await this.#unhandle?.().catch(() => {})
    await this.#notifying?.catch(() => {})
    await this.#saving.catch(() => {})
    for (const release of this.#holds.values()) release()
    this.#holds.clear()
  }

  // ---- sync ---------------------------------------------------------------------------------

  sync(peerId: string, opts: { signal: AbortSignal; onProgress?: (p: SyncProgress) => void }): Promise<SyncResult> {
    let peer: PeerId
    try {
      peer = peerIdFromString(peerId)
    } catch (err) {
      return Promise.reject(new SyncFailedError(`sync: ${peerId} is not a peer id (${(err as Error).message})`))
    }
    const controller = new AbortController()
    const signal = AbortSignal.any([opts.signal, controller.signal, this.#stopping.signal])
    const running = this.#running.get(peerId) ?? new Set()
    running.add(controller)
    this.#running.set(peerId, running)
    const generation = this.#generation.get(peerId) ?? 0
    return this.#syncs
      .run(peerId, () => this.#sync(peer, generation, signal, opts.onProgress))
      .finally(() => {
        running.delete(controller)
        if (running.size === 0 && this.#running.get(peerId) === running) this.#running.delete(peerId)
      })
  }

  async #sync(peer: PeerId, generation: number, signal: AbortSignal, onProgress?: (p: SyncProgress) => void): Promise<SyncResult> {
    signal.throwIfAborted()
    const peerId = peer.toString()
    const settings = this.#settings
    const root = await requestRoot(this.handle.libp2p, peer, {
      timeoutMs: settings.requestTimeoutMs,
      onViolation: this.#onViolation,
      signal,
    })
    if (root.code !== DAG_PB_CODEC) throw new SyncFailedError(`sync: ${peerId}'s root ${root} is not a UnixFS directory`)
    // what the fetch brings is kept from the collector until it is counted (or the sync fails)
    const release = await this.store.hold(root)
    const idle = new IdleDeadline(settings.stallTimeoutMs, `sync from ${peerId}`, signal)
    let last = 0
    let lastBlockAt = performance.now()
    const report = (p: SyncProgress, force: boolean) => {
      if (onProgress === undefined) return
      const now = performance.now()
      if (!force && now - last < settings.progressIntervalMs) return
      last = now
      try {
        onProgress(p)
      } catch (err) {
        this.deps.log(`sync ${this.alias}: a progress listener failed: ${(err as Error).message}`)
      }
    }
    const checkRoot = (cid: CID, bytes: Uint8Array) => {
      if (!cid.equals(root)) return
      const kind = decodeNode(cid, bytes).kind
      if (kind !== 'directory' && kind !== 'hamt') throw new SyncFailedError(`sync: ${peerId}'s root ${root} is not a UnixFS directory`)
      const claimed = treeSize(bytes, cid)
      if (claimed > settings.maxReplicaBytes)
        throw new SyncFailedError(
          `sync: ${peerId}'s directory holds ${claimed} bytes, over the ${settings.maxReplicaBytes} bytes a replica may hold`,
        )
    }
    try {
      const fetched = await fetchDag(root, {
        has: async (cid) => this.handle.blockstore.has(cid),
        getLocal: async (cid, s) => {
          const bytes = await toBuffer(this.handle.blockstore.get(cid, { signal: s }))
          checkRoot(cid, bytes)
          return bytes
        },
        fetch: async (cid, s) => {
          const bytes = await this.#want(peer, cid, s, () => performance.now() - lastBlockAt)
          lastBlockAt = performance.now()
          idle.touch()
          checkRoot(cid, bytes)
          return bytes
        },
        signal: idle.signal,
        concurrency: settings.concurrency,
        onProgress: (p) => report({ blocksFetched: p.fetched, blocksTotal: p.lacking, bytes: p.bytes }, false),
        check: (p) => {
          if (p.bytes > settings.maxReplicaBytes)
            throw new SyncFailedError(`sync: ${peerId}'s directory is over the ${settings.maxReplicaBytes} bytes a replica may hold`)
        },
      })
      report({ blocksFetched: fetched.fetched, blocksTotal: fetched.lacking, bytes: fetched.bytes }, true)
      const replica: Replica = { root, at: Date.now(), blocks: fetched.fetched, bytes: fetched.bytes }
      await this.#keeps.run(peerId, async () => {
        signal.throwIfAborted()
        if ((this.#generation.get(peerId) ?? 0) !== generation) throw new SyncFailedError(`sync: ${peerId}'s replica was dropped meanwhile`)
        await this.#keep(peerId, replica)
      })
      return { root: root.toString(), blocks: replica.blocks, bytes: replica.bytes, at: replica.at }
    } catch (err) {
      // an abort's own reason, not whatever the stream or bitswap made of it
      if (signal.aborted) throw signal.reason
      if (idle.signal.aborted) throw idle.signal.reason
      throw err
    } finally {
      idle.clear()
      release()
    }
  }

  /**
   * One block over bitswap, wanted again every `rewantMs`, and when no block of the sync at all
   * came for that long, asked of the peer itself over the sync protocol (hash checked), until it
   * comes or `signal` aborts.
   * A block wanted again comes again (src/p2p/bitswap-wants.ts), but one whose send to us failed
   * leaves the want as "sending" at the peer for as long as the connection lasts.
   */
  async #want(peer: PeerId, cid: CID, signal: AbortSignal, quietMs: () => number): Promise<Uint8Array> {
    for (;;) {
      const bounded = AbortSignal.any([signal, AbortSignal.timeout(this.#settings.rewantMs)])
      try {
        return await toBuffer(this.handle.helia.blockstore.get(cid, { signal: bounded }))
      } catch (err) {
        if (signal.aborted || !bounded.aborted) throw err
      }
      // asked directly only while nothing else arrives either: a busy transfer is left to bitswap
      if (quietMs() >= this.#settings.rewantMs) {
        const direct = await this.#askBlock(peer, cid, signal)
        if (direct !== undefined) return direct
      }
      // the aborted want is dropped on bitswap's next wantlist send (10 ms debounce): a want made
      // before that would join it and be dropped with it
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** `cid` from the peer over the sync protocol, stored once its sha2-256 matches; undefined otherwise. */
  async #askBlock(peer: PeerId, cid: CID, signal: AbortSignal): Promise<Uint8Array | undefined> {
    if (cid.multihash.code !== sha256.code) return undefined
    let bytes: Uint8Array | undefined
    try {
      bytes = await requestBlock(this.handle.libp2p, peer, cid, {
        timeoutMs: this.#settings.requestTimeoutMs,
        onViolation: this.#onViolation,
        signal,
      })
    } catch (err) {
      if (signal.aborted) throw signal.reason
      this.deps.log(`sync ${this.alias}: block ${cid} from ${peer}: ${(err as Error).message}`)
      return undefined
    }
    if (bytes === undefined) return undefined
    const digest = await sha256.digest(bytes)
    if (Buffer.compare(digest.digest, cid.multihash.digest) !== 0) {
      this.#onViolation(peer.toString(), 'malformed-frame', `block ${cid}: the bytes sent do not hash to it`)
      return undefined
    }
    await this.handle.blockstore.put(cid, bytes, { signal })
    return bytes
  }

  /** Make `replica` the peer's, the old one released, in one step; runs in the peer's #keeps. */
  async #keep(peerId: string, replica: Replica): Promise<void> {
    if (this.#persistent) {
      await this.store.commit(holderOf(peerId), replica.root)
      this.#replicas.set(peerId, replica)
      await this.#save()
      return
    }
    const release = await this.store.hold(replica.root)
    const previous = this.#holds.get(peerId)
    this.#holds.set(peerId, release)
    this.#replicas.set(peerId, replica)
    previous?.()
  }

  /** Saves of replicas.json, one after another, each with the state when it starts. */
  #save(): Promise<void> {
    const file = this.#file
    if (file === undefined) return Promise.resolve()
    const next = this.#saving.catch(() => {}).then(() => file.save(this.#replicas))
    this.#saving = next
    return next
  }

  replicaRoot(peerId: string): string | undefined {
    return this.#replicas.get(peerId)?.root.toString()
  }

  replica(peerId: string): Replica | undefined {
    const r = this.#replicas.get(peerId)
    return r === undefined ? undefined : { ...r }
  }

  async dropReplica(peerId: string): Promise<void> {
    this.#generation.set(peerId, (this.#generation.get(peerId) ?? 0) + 1)
    for (const c of this.#running.get(peerId) ?? []) c.abort(new SyncFailedError(`sync: ${peerId}'s replica was dropped`))
    await this.#keeps.run(peerId, async () => {
      if (this.#persistent) {
        // off the list first: a crash after this leaves a holder the next start drops
        if (this.#replicas.delete(peerId)) await this.#save()
        await this.store.forget(holderOf(peerId))
        return
      }
      this.#replicas.delete(peerId)
      this.#holds.get(peerId)?.()
      this.#holds.delete(peerId)
    })
  }

  async listReplica(peerId: string, signal?: AbortSignal): Promise<FileList | undefined> {
    const replica = this.#replicas.get(peerId)
    if (replica === undefined) return undefined
    return this.files.listRoot(replica.root, signal)
  }

  isConnected(peerId: string): boolean {
    try {
      return this.handle.libp2p.getConnections(peerIdFromString(peerId)).length > 0
    } catch {
      return false
    }
  }

  // ---- change notices -----------------------------------------------------------------------

  onChanged(listener: (peerId: string) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emitChanged(peerId: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(peerId)
      } catch (err) {
        this.deps.log(`sync ${this.alias}: a change listener failed: ${(err as Error).message}`)
      }
    }
  }

  /** Tell every connected known peer our directory changed; changes during a round make one more round. */
  #notifyPeers(): void {
    if (this.#stopping.signal.aborted) return
    if (this.#notifying !== undefined) {
      this.#notifyAgain = true
      return
    }
    const round = async () => {
      do {
        this.#notifyAgain = false
        await this.#notifyRound()
      } while (this.#notifyAgain && !this.#stopping.signal.aborted)
    }
    this.#notifying = round()
      .catch((err: Error) => this.deps.log(`sync ${this.alias}: change notices failed: ${err.message}`))
      .finally(() => {
        this.#notifying = undefined
      })
  }

  async #notifyRound(): Promise<void> {
    const libp2p = this.handle.libp2p
    const peers = new Map<string, PeerId>()
    for (const c of libp2p.getConnections()) {
      const id = c.remotePeer.toString()
      if (!peers.has(id) && this.deps.isKnown(this.alias, id)) peers.set(id, c.remotePeer)
    }
    const queue = [...peers.values()]
    const settings = this.#settings
    const worker = async () => {
      for (let peer = queue.shift(); peer !== undefined; peer = queue.shift()) {
        try {
          await sendChanged(libp2p, peer, {
            timeoutMs: settings.requestTimeoutMs,
            onViolation: this.#onViolation,
            signal: this.#stopping.signal,
          })
        } catch (err) {
          if (!this.#stopping.signal.aborted)
            this.deps.log(`sync ${this.alias}: change notice to ${peer} failed: ${(err as Error).message}`)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(settings.notifyConcurrency, queue.length) }, worker))
  }
}

/** The node service factory: sync on every local node, over its files service (started before it). */
export const syncService =
  (deps: SyncDeps) =>
  async (
    components: Pick<NodeComponents, 'alias' | 'handle' | 'storageDir'>,
    started: { files?: FilesNodeService },
  ): Promise<SyncService> => {
    const files = started.files
    if (files === undefined) throw new Error('the sync service needs the files service, started before it')
    const service = new SyncService(
      components.alias,
      components.handle,
      files.service,
      files.service.init.store,
      components.storageDir,
      deps,
    )
    await service.start()
    return service
  }
