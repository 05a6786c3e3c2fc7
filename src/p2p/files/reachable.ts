/**
 * The blocks a DAG reaches, as the block collector sees them: every occurrence, with each block's
 * size where it is known without reading it (a raw leaf's size is its link's Tsize), the links of
 * dag-pb nodes read once per collection and remembered. Pure over a block getter.
 */
import type * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { type BlockGetter, blockKey, DAG_PB_CODEC, isStored } from './directory.ts'
import { decodePb } from './pb-cache.ts'

export interface ReachedBlock {
  cid: CID
  key: string
  /** Bytes of the block; undefined for a raw root (nothing links to it with a size). */
  size: number | undefined
}

/** What one collection has read so far: dag-pb links and block sizes by key. */
export interface WalkMemo {
  links: Map<string, dagPb.PBLink[]>
  sizes: Map<string, number>
}

export const newWalkMemo = (): WalkMemo => ({ links: new Map(), sizes: new Map() })

export interface WalkOptions {
  signal?: AbortSignal
  /**
   * Called for a block that is not held locally; its subtree is skipped. Without it a missing
   * block fails the walk. Other read errors always fail it: a collector that guessed would delete
   * what it could not read.
   */
  onMissing?: (cid: CID) => void
  memo?: WalkMemo
}

const isMissing = (err: unknown) => {
  const name = (err as Error)?.name
  return name === 'NotFoundError' || name === 'BlockNotFoundWhileOfflineError'
}

/**
 * Visit every block occurrence under `root`; `visit` returns whether to descend into the block's
 * links (false for a subtree already seen, when occurrences do not matter).
 */
export async function walkReachable(
  root: CID,
  get: BlockGetter,
  visit: (block: ReachedBlock) => boolean,
  opts: WalkOptions = {},
): Promise<void> {
  const memo = opts.memo ?? newWalkMemo()
  const stack: Array<{ cid: CID; size: number | undefined }> = [{ cid: root, size: undefined }]
  while (stack.length > 0) {
    const { cid, size } = stack.pop() as { cid: CID; size: number | undefined }
    if (!isStored(cid)) continue
    const key = blockKey(cid)
    if (cid.code !== DAG_PB_CODEC) {
      visit({ cid, key, size: size ?? memo.sizes.get(key) })
      continue
    }
    let links = memo.links.get(key)
    if (links === undefined) {
      opts.signal?.throwIfAborted()
      let bytes: Uint8Array
      try {
        bytes = await get(cid, opts.signal)
      } catch (err) {
        if (opts.onMissing === undefined || !isMissing(err)) throw err
        opts.onMissing(cid)
        continue
      }
      links = decodePb(cid, bytes).Links
      memo.links.set(key, links)
      memo.sizes.set(key, bytes.length)
    }
    if (!visit({ cid, key, size: memo.sizes.get(key) })) continue
    for (const link of links) stack.push({ cid: link.Hash, size: link.Hash.code === DAG_PB_CODEC ? undefined : link.Tsize })
  }
}

/**
 * The bytes a UnixFS tree holds, from its root block alone: the block plus every link's Tsize (the
 * importer and the directory edits keep Tsize as the cumulative size of what the link reaches).
 */
export function treeSize(rootBytes: Uint8Array, cid: CID): number {
  if (cid.code !== DAG_PB_CODEC) return rootBytes.length
  return decodePb(cid, rootBytes).Links.reduce((sum, l) => sum + (l.Tsize ?? 0), rootBytes.length)
}
