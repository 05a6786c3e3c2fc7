/**
 * The importer's leaves, hashed as each chunk comes in and written behind the import.
 *
 * ipfs-unixfs-importer's buffer importer yields one task per chunk (hash it, put the block, then
 * resolve) and runs them with it-parallel-batch, which collects `blockWriteConcurrency` (10) tasks
 * before it starts any: a 10 MiB upload wrote nothing until its whole body was in, then waited for
 * ten 1 MiB writes at once, and a larger one alternated between reading a batch and writing it; a
 * 1 MiB file waited for its one write before the directory edit could start writing its own blocks.
 *
 * Here each chunk is hashed and its write started when it arrives; its task resolves with the CID
 * at once (the same blocks, CIDs and order: the importer builds the same DAG), so the writes run
 * under the rest of the upload and under the directory edit. At most `maxInFlight` writes run at
 * once: the next chunk is not taken from the upload until one ends (the memory bound the batch
 * gave). `written()` is the barrier: every write started has landed, or it throws the first
 * failure. The change awaits it before the directory root that names these blocks is saved, so the
 * root file never names a block that is not on disk; `settled()` waits without throwing (a failed
 * change, before it lets the collector free what was written).
 *
 * Raw leaves, CIDv1, sha256: @helia/unixfs's defaults, the only leaves the daemon imports.
 */
import type { AddOptions } from '@helia/unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

type BufferImporter = NonNullable<AddOptions['bufferImporter']>

/** Leaf writes of one import running at once (the importer's own blockWriteConcurrency). */
export const LEAF_WRITES_IN_FLIGHT = 10

export interface EagerLeaves {
  bufferImporter: BufferImporter
  /** Every leaf write started has landed; rejects with the first that failed. */
  written(): Promise<void>
  /** Every leaf write started has ended, landed or not. */
  settled(): Promise<void>
}

export function eagerRawLeaves(maxInFlight = LEAF_WRITES_IN_FLIGHT): EagerLeaves {
  const running = new Set<Promise<void>>()
  let failure: { err: unknown } | undefined
  const bufferImporter: BufferImporter = async function* (file, blockstore) {
    for await (const block of file.content) {
      while (running.size >= maxInFlight) await Promise.race(running)
      if (failure !== undefined) throw failure.err
      const cid = CID.createV1(raw.code, await sha256.digest(block))
      const write = Promise.resolve()
        .then(() => blockstore.put(cid, block))
        .then(
          () => {},
          (err: unknown) => {
            failure ??= { err }
          },
        )
        .finally(() => running.delete(write))
      running.add(write)
      const result = { cid, size: BigInt(block.length), block }
      yield async () => result
    }
  }
  const settled = async () => {
    while (running.size > 0) await Promise.allSettled([...running])
  }
  return {
    bufferImporter,
    settled,
    written: async () => {
      await settled()
      if (failure !== undefined) throw failure.err
    },
  }
}
