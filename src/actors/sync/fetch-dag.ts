/**
 * Fetch every block of a DAG that the local store lacks, several at once, directory and file nodes
 * before raw leaves (so the count of blocks to fetch is known early and grows no more once the
 * structure is read). Blocks already held are read for their links, never fetched again.
 */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { blockKey, DAG_PB_CODEC, isStored } from '../../p2p/files/directory.ts'

export interface DagProgress {
  /** Blocks fetched so far. */
  fetched: number
  /** Blocks found lacking so far (fetched or still to fetch): final once the DAG's structure is read. */
  lacking: number
  /** Bytes fetched so far. */
  bytes: number
}

export interface FetchDagResult extends DagProgress {
  /** Distinct blocks the DAG has, held before or fetched now. */
  blocks: number
}

export interface FetchDagOptions {
  /** Whether the local store holds the block (never asks the network). */
  has(cid: CID, signal: AbortSignal): Promise<boolean>
  /** A block from the local store. */
  getLocal(cid: CID, signal: AbortSignal): Promise<Uint8Array>
  /** A block from the network (it is stored locally as it arrives). */
  fetch(cid: CID, signal: AbortSignal): Promise<Uint8Array>
  signal: AbortSignal
  /** Blocks fetched at once. */
  concurrency: number
  /** After each block found lacking and each block fetched. */
  onProgress?: (p: DagProgress) => void
  /** Throws to stop the fetch (a size cap); called before each fetch with the bytes fetched so far. */
  check?: (p: DagProgress) => void
}

export async function fetchDag(root: CID, opts: FetchDagOptions): Promise<FetchDagResult> {
  // the first failure stops the other fetches at once
  const stop = new AbortController()
  const signal = AbortSignal.any([opts.signal, stop.signal])
  const seen = new Set<string>()
  // dag-pb nodes first: their links tell what else there is
  const nodes: CID[] = []
  const leaves: CID[] = []
  const progress: DagProgress = { fetched: 0, lacking: 0, bytes: 0 }
  let failed: unknown
  let active = 0
  let wake: (() => void) | undefined

  const enqueue = (cid: CID) => {
    if (!isStored(cid)) return
    const key = blockKey(cid)
    if (seen.has(key)) return
    seen.add(key)
    ;(cid.code === DAG_PB_CODEC ? nodes : leaves).push(cid)
  }

  const visit = async (cid: CID) => {
    const held = await opts.has(cid, signal)
    let bytes: Uint8Array | undefined
    if (held) {
      if (cid.code === DAG_PB_CODEC) bytes = await opts.getLocal(cid, signal)
    } else {
      progress.lacking += 1
      opts.onProgress?.({ ...progress })
      opts.check?.(progress)
      bytes = await opts.fetch(cid, signal)
      progress.fetched += 1
      progress.bytes += bytes.length
      opts.onProgress?.({ ...progress })
    }
    if (bytes !== undefined && cid.code === DAG_PB_CODEC) for (const link of dagPb.decode(bytes).Links) enqueue(link.Hash)
  }

  const worker = async () => {
    while (failed === undefined) {
      const next = nodes.shift() ?? leaves.shift()
      if (next === undefined) {
        if (active === 0) break
        // others may still find more links: wait for one of them to finish
        await new Promise<void>((resolve) => {
          const previous = wake
          wake = () => {
            previous?.()
            resolve()
          }
        })
        continue
      }
      active += 1
      try {
        signal.throwIfAborted()
        await visit(next)
      } catch (err) {
        failed ??= opts.signal.aborted ? opts.signal.reason : err
        stop.abort(failed)
      } finally {
        active -= 1
        const w = wake
        wake = undefined
        w?.()
      }
    }
  }

  enqueue(root)
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker))
  if (failed !== undefined) throw failed
  opts.signal.throwIfAborted()
  return { ...progress, blocks: seen.size }
}
