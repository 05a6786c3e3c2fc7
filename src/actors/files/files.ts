/**
 * Files as a node extension: every local node gets a FileService when it starts and loses it before
 * it stops. All local peers share one FileStore (peer-a's datastore and blockstore, see
 * file-store.ts); peer-a's root is saved atomically in its storage directory and restored at start.
 *
 * For the `peer {rootDirectory}` call: `restoreRoot(sb, alias, cid)` makes that CID the session
 * peer's directory (400 if it is not a UnixFS directory, 404 if it cannot be found in time).
 */
import { join } from 'node:path'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { parseCid } from '../../p2p/validate.ts'
import type { Switchboard } from '../../switchboard.ts'
import type { NodeExtension, NodeExtensionFactory, NodeRuntime } from '../node/node-runtimes.ts'
import { FileService, type FilesConfig } from './file-service.ts'
import { FileStore, type GcReport } from './file-store.ts'
import type { OnViolation } from './p2p-webapp.ts'
import { rootFile, savedRoot } from './root-file.ts'

export const FILES_EXTENSION = 'files'

export interface FilesExtension extends NodeExtension {
  service: FileService
  /** The `peer {rootDirectory}` hook: make that CID this peer's directory (see restoreRoot). */
  restoreRoot(cid: string, signal?: AbortSignal): Promise<string>
}

const stores = new WeakMap<Switchboard, FileStore>()

export function filesConfig(sb: Switchboard): FilesConfig {
  const c = sb.config
  return {
    shardSplitThresholdBytes: c.fileShardSplitThresholdBytes,
    getFileTimeoutMs: c.getFileTimeoutMs,
    getFileFallbackTimeoutMs: c.getFileFallbackTimeoutMs,
    listFilesTimeoutMs: c.listFilesTimeoutMs,
    frameMaxBytes: c.fileFrameMaxBytes,
    updateNotifyTopic: c.fileUpdateNotifyTopic,
    uploadIdleMs: c.fileUploadIdleMs,
    maxFileBytes: c.fileMaxBytes,
    peerQuotaBytes: c.filePeerQuotaBytes,
    totalQuotaBytes: c.fileTotalQuotaBytes,
  }
}

/** The daemon's shared store: the persistent node's, else (no persistent node) the node's own. */
function storeFor(sb: Switchboard, runtime: NodeRuntime): FileStore {
  const handle = runtime.handle
  if (!handle) throw new Error(`local node ${runtime.spec.alias} has no handle`)
  const shared = stores.get(sb)
  if (shared && runtime.spec.storageDir === undefined) return shared
  const store = new FileStore({
    datastore: handle.datastore,
    blockstore: handle.blockstore,
    getLocal: (cid, signal) => toBuffer(handle.blockstore.get(cid, { signal })),
    pins: handle.helia.pins,
    log: sb.log,
    cacheMaxBytes: sb.config.fileCacheMaxBytes,
    gcIntervalMs: sb.config.fileGcIntervalMs,
    sessionRootRetentionMs: sb.config.sessionRootRetentionMs,
    ...(runtime.spec.storageDir === undefined ? {} : { blocksDir: join(runtime.spec.storageDir, 'blocks') }),
  })
  if (runtime.spec.storageDir !== undefined) stores.set(sb, store)
  return store
}

function violations(sb: Switchboard, alias: string): OnViolation {
  return (peerId, reason, detail) => {
    sb.services.reputation.violation(peerId, reason === 'oversized-frame' ? 'flood' : 'malformed-frame')
    sb.services.activity.add({ type: 'error', alias, peerId, message: `p2p-webapp protocol: ${reason} from ${peerId}: ${detail}; cut off` })
  }
}

/** The saved root; a corrupt file is moved aside and reported to the log and the activity feed. */
function loadRoot(sb: Switchboard, alias: string, path: string): Promise<CID | undefined> {
  return savedRoot(path).load((msg) => {
    sb.log(`files ${alias}: ${msg}`)
    sb.services.activity.add({ type: 'error', alias, message: `files: ${msg}` })
  })
}

/** The node extension: start a FileService on every local node. */
export function filesExtension(sb: Switchboard): NodeExtensionFactory {
  return async (runtime) => {
    const handle = runtime.handle
    if (!handle) throw new Error(`local node ${runtime.spec.alias} has no handle`)
    const alias = runtime.spec.alias
    const store = storeFor(sb, runtime)
    const storageDir = runtime.spec.storageDir
    const path = storageDir === undefined ? undefined : rootFile(storageDir)
    const service = new FileService({
      alias,
      helia: handle.helia,
      store,
      config: filesConfig(sb),
      ...(path === undefined ? {} : { persistRoot: savedRoot(path).save }),
      onViolation: violations(sb, alias),
      log: sb.log,
    })
    // a persistent peer resumes its saved root; failing that, the last one its counts include
    const saved =
      path === undefined ? undefined : ((await loadRoot(sb, alias, path)) ?? (await store.appliedRoot(handle.libp2p.peerId.toString())))
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
        if (storageDir !== undefined) await store.collector.stop()
      },
    } satisfies FilesExtension
  }
}

/**
 * Collect unreferenced blocks of the daemon's shared store now (the `files.gc` call, tests, soak);
 * 503 when no persistent local peer runs.
 */
export function collectBlocks(sb: Switchboard, signal?: AbortSignal): Promise<GcReport> {
  const persistent = sb.runtimes.all().find((r) => r.spec.storageDir !== undefined)
  return sb.runtimes
    .extension<FilesExtension>(persistent?.spec.alias ?? 'peer-a', FILES_EXTENSION)
    .service.init.store.collectGarbage(signal)
}

/** A running local peer's file service (503 when the peer is not running). */
export function fileService(sb: Switchboard, alias: string): FileService {
  return sb.runtimes.extension<FilesExtension>(alias, FILES_EXTENSION).service
}

/** The file service of the local peer with this peer id, if one runs here. */
export function localFileService(sb: Switchboard, peerId: string): FileService | undefined {
  for (const r of sb.runtimes.all()) {
    const ext = r.extensions.get(FILES_EXTENSION) as FilesExtension | undefined
    if (ext?.service.peerId === peerId) return ext.service
  }
  return undefined
}

/**
 * Make `cid` the directory of local peer `alias` (the `peer {rootDirectory}` call). Throws
 * InvalidInputError (400) for a CID that does not parse or is not a UnixFS directory, FileNotFoundError (404)
 * when its blocks cannot be found locally or on the network in time. Returns the root as a string.
 */
export function restoreRoot(sb: Switchboard, alias: string, cid: string | CID, signal?: AbortSignal): Promise<string> {
  return sb.runtimes.extension<FilesExtension>(alias, FILES_EXTENSION).restoreRoot(cid.toString(), signal)
}
