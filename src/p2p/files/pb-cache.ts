/**
 * Decoded dag-pb nodes, the most recently used kept. One store decodes the same directory nodes
 * several times (the path edit, the quota, the counting diff, the root's size) and the next store
 * decodes them again; a directory of a hundred entries is ~0.1 ms a decode. A hit needs the same
 * bytes as well as the same CID, so bytes that do not match their CID (a peer's, unchecked)
 * never get another block's links. The nodes are shared: callers must not change them.
 */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'

/** Nodes kept; a directory node is at most a few KiB to ~64 KiB (the shard threshold). */
const MAX_NODES = 512
/** Larger blocks are decoded each time rather than held. */
const MAX_BYTES = 64 * 1024

const nodes = new Map<string, { bytes: Uint8Array; node: dagPb.PBNode }>()

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a === b || (a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b))

function keep(key: string, bytes: Uint8Array, node: dagPb.PBNode): void {
  nodes.delete(key)
  nodes.set(key, { bytes, node })
  if (nodes.size > MAX_NODES) nodes.delete(nodes.keys().next().value as string)
}

/** `bytes` (the block `cid`) decoded as dag-pb, from the cache when the same bytes were decoded before. */
export function decodePb(cid: CID, bytes: Uint8Array): dagPb.PBNode {
  if (bytes.length > MAX_BYTES) return dagPb.decode(bytes)
  const key = cid.toString()
  const hit = nodes.get(key)
  if (hit !== undefined && sameBytes(hit.bytes, bytes)) {
    keep(key, hit.bytes, hit.node)
    return hit.node
  }
  const node = dagPb.decode(bytes)
  keep(key, bytes, node)
  return node
}

/** A node this process just encoded (`bytes` = dagPb.encode(node)): its next decode is a hit. */
export function rememberPb(cid: CID, bytes: Uint8Array, node: dagPb.PBNode): void {
  if (bytes.length <= MAX_BYTES) keep(cid.toString(), bytes, node)
}
