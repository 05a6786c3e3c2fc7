/**
 * Files as a node service: every local node gets a FileService when it starts and loses it before
 * it stops. All local peers share one FileStore (the persistent node's datastore and blockstore, see
 * file-store.ts), held by the daemon's SharedFileStore; a persistent peer's root is saved atomically
 * in its storage directory and restored at start.
 */
import { join } from 'node:path'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import type { Reputation } from '../../p2p/reputation.ts'
import { parseCid } from '../../p2p/validate.ts'
import type { ActivityLog } from '../activity-log.ts'
import { NodeNotRunningError, type NodeComponents, type NodeService } from '../node/node-runtimes.ts'
import { FileService, type FilesConfig } from './file-service.ts'
import { FileStore, type FileStoreInit, type GcReport } from './file-store.ts'
import type { OnViolation } from './p2p-webapp.ts'
import { rootFile, savedRoot } from './root-file.ts'

/** What the collector of the shared store is tuned by. */
export type FileStoreSettings = Pick<FileStoreInit, 'cacheMaxBytes' | 'gcIntervalMs' | 'sessionRootRetentionMs'>

/**
 * The daemon's one block store: made by the persistent node when it starts and used by every
 * session peer after it (a node without a persistent one keeps its own).
 */
export class SharedFileStore {
  #store: FileStore | undefined

  constructor(
    private readonly settings: FileStoreSettings,
    private readonly log: (msg: string) => void,
  ) {}

  /** The store for a starting node: the shared one for session peers, a new one for a persistent node. */
  storeFor({ handle, storageDir }: Pick<NodeComponents, 'handle' | 'storageDir'>): FileStore {
    if (this.#store && storageDir === undefined) return this.#store
    const store = new FileStore({
      datastore: handle.datastore,
      blockstore: handle.blockstore,
      getLocal: (cid, signal) => toBuffer(handle.blockstore.get(cid, { signal })),
      pins: handle.helia.pins,
      log: this.log,
      ...this.settings,
      ...(storageDir === undefined ? {} : { blocksDir: join(storageDir, 'blocks') }),
    })
    if (storageDir !== undefined) this.#store = store
    return store
  }

  /** The persistent node stopped: its store is closed, and collecting waits for the next one. */
  release(store: FileStore): void {
    if (this.#store === store) this.#store = undefined
  }

  /** Collect unreferenced blocks now (the `files.gc` call); 503 until a persistent node has started. */
  collectGarbage(signal?: AbortSignal): Promise<GcReport> {
    if (!this.#store) return Promise.reject(new NodeNotRunningError('peer-a'))
    return this.#store.collectGarbage(signal)
  }
}

export interface FilesDeps {
  config: FilesConfig
  shared: SharedFileStore
  reputation: Pick<Reputation, 'violation'>
  activity: Pick<ActivityLog, 'add'>
  /** `fileAccess: known`: who may list and fetch a local node's files over /p2p-webapp/1.0.0; absent: everyone. */
  mayRead?: (alias: string, peerId: string) => boolean
  log: (msg: string) => void
}

/** A local node's files: its FileService, and the `peer {rootDirectory}` hook. */
export interface FilesNodeService extends NodeService {
  service: FileService
  /**
   * Make `cid` this peer's directory. Throws InvalidInputError (400) for a CID that does not parse
   * or is not a UnixFS directory, FileNotFoundError (404) when its blocks cannot be found in time.
   */
  restoreRoot(cid: string, signal?: AbortSignal): Promise<string>
}

/** The node service factory: start a FileService on every local node. */
export const filesService =
  (deps: FilesDeps) =>
  async (components: Pick<NodeComponents, 'alias' | 'handle' | 'storageDir'>): Promise<FilesNodeService> => {
    const { alias, handle, storageDir } = components
    const store = deps.shared.storeFor(components)
    const path = storageDir === undefined ? undefined : rootFile(storageDir)
    const service = new FileService({
      alias,
      helia: handle.helia,
      store,
      config: deps.config,
      ...(path === undefined ? {} : { persistRoot: savedRoot(path) }),
      onViolation: violations(deps, alias),
      ...(deps.mayRead === undefined ? {} : { mayRead: (peerId: string) => deps.mayRead?.(alias, peerId) === true }),
      log: deps.log,
    })
    // a persistent peer resumes its saved root; failing that, the last one its counts include
    const saved =
      path === undefined ? undefined : ((await loadRoot(deps, alias, path)) ?? (await store.appliedRoot(handle.libp2p.peerId.toString())))
    await service.start(saved)
    // the persistent node's store collects for every local peer: now, periodically and on request
    if (storageDir !== undefined) store.collector.start()
    return {
      service,
      restoreRoot: async (cid, signal) => {
        const root = parseCid(cid, 'rootDirectory')
        await service.restore(root, signal)
        return root.toString()
      },
      stop: async () => {
        await service.stop()
        if (storageDir === undefined) return
        deps.shared.release(store)
        await store.collector.stop()
      },
    }
  }

function violations(deps: FilesDeps, alias: string): OnViolation {
  return (peerId, reason, detail) => {
    deps.reputation.violation(peerId, reason === 'oversized-frame' ? 'flood' : 'malformed-frame')
    deps.activity.add({ type: 'error', alias, peerId, message: `p2p-webapp protocol: ${reason} from ${peerId}: ${detail}; cut off` })
  }
}

/** The saved root; a corrupt file is moved aside and reported to the log and the activity feed. */
function loadRoot(deps: FilesDeps, alias: string, path: string): Promise<CID | undefined> {
  return savedRoot(path).load((msg) => {
    deps.log(`files ${alias}: ${msg}`)
    deps.activity.add({ type: 'error', alias, message: `files: ${msg}` })
  })
}
