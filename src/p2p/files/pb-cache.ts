/**
 * Decoded dag-pb nodes, the most recently used kept. One store decodes the same directory nodes
 * several times (the path edit, the quota, the counting diff, the root's size) and the next store
 * decodes them again; a directory of a hundred entries is ~0.1 ms a decode. A hit needs the same
 * bytes as well as the same CID, so bytes that do not match their CID (a peer's, unchecked)
 * never get another block's links. The nodes are shared: callers must not change them.
 */
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'

/** Bytes of encoded nodes kept in all (a decoded node takes a few times its bytes), least recently used dropped first. */
const MAX_TOTAL_BYTES = 2 * 1024 * 1024
/** Larger blocks are decoded each time rather than held. */
const MAX_BYTES = 64 * 1024

const nodes = new Map<string, { bytes: Uint8Array; node: dagPb.PBNode }>()

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a === b || (a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b))

let totalBytes = 0

function keep(key: string, bytes: Uint8Array, node: dagPb.PBNode): void {
  const old = nodes.get(key)
  if (old !== undefined) {
    totalBytes -= old.bytes.length
    nodes.delete(key)
  }
  nodes.set(key, { bytes, node })
  totalBytes += bytes.length
  for (const [oldest, kept] of nodes) {
    if (totalBytes <= MAX_TOTAL_BYTES) break
    nodes.delete(oldest)
    totalBytes -= kept.bytes.length
  }
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
  // a copy: the caller's bytes may be a view into a larger buffer, or reused
  keep(key, bytes.slice(), node)
  return node
}

/** A node this process just encoded (`bytes` = dagPb.encode(node)): its next decode is a hit. */
export function rememberPb(cid: CID, bytes: Uint8Array, node: dagPb.PBNode): void {
  if (bytes.length <= MAX_BYTES) keep(cid.toString(), bytes, node)
}
