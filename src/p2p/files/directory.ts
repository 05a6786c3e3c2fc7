/**
 * The directory model: the paths a client may name, and the UnixFS DAG seen as blocks (what a
 * directory version references, what changed between two versions). Pure over a block getter, so
 * the store that counts references and the tests can use it alike.
 */
import type * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { base32 } from 'multiformats/bases/base32'
import type { CID } from 'multiformats/cid'
import { InvalidInputError } from '../validate.ts'
import { decodePb } from './pb-cache.ts'

/** Longest path accepted, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096

export const RAW_CODEC = 0x55
export const DAG_PB_CODEC = 0x70
const IDENTITY_HASH = 0x00

/**
 * Split a client path into names. One leading `/` is allowed (p2p-webapp accepts both); empty
 * segments, `.`, `..`, NUL and paths over 4 KiB are refused, naming the problem.
 */
export function parsePath(path: string, field = 'path'): string[] {
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) throw new InvalidInputError(field, `is longer than ${MAX_PATH_BYTES} bytes`)
  const body = path.startsWith('/') ? path.slice(1) : path
  if (body.length === 0) throw new InvalidInputError(field, 'names no file or directory (empty path)')
  if (body.includes('\0')) throw new InvalidInputError(field, 'contains a NUL character')
  const names = body.split('/')
  for (const name of names) {
    if (name === '') throw new InvalidInputError(field, `${JSON.stringify(path.slice(0, 200))} has an empty segment`)
    if (name === '.' || name === '..') throw new InvalidInputError(field, `${JSON.stringify(path.slice(0, 200))} has a "${name}" segment`)
  }
  return names
}

/** Reads one block; the caller decides whether the network may be asked. */
export type BlockGetter = (cid: CID, signal?: AbortSignal) => Promise<Uint8Array>

/** What one block is, as far as walking and listing need to know. */
export type NodeKind = 'raw' | 'file' | 'directory' | 'hamt' | 'other'

export interface DecodedNode {
  kind: NodeKind
  links: dagPb.PBLink[]
  unixfs?: UnixFS
}

export function decodeNode(cid: CID, bytes: Uint8Array): DecodedNode {
  if (cid.code === RAW_CODEC) return { kind: 'raw', links: [] }
  if (cid.code !== DAG_PB_CODEC) return { kind: 'other', links: [] }
  const node = decodePb(cid, bytes)
  if (node.Data === undefined) return { kind: 'other', links: node.Links }
  const unixfs = UnixFS.unmarshal(node.Data)
  const kind: NodeKind =
    unixfs.type === 'directory'
      ? 'directory'
      : unixfs.type === 'hamt-sharded-directory'
        ? 'hamt'
        : unixfs.type === 'file' || unixfs.type === 'raw'
          ? 'file'
          : 'other'
  return { kind, links: node.Links, unixfs }
}

/** The key blocks are stored under: the multihash, whatever codec the CID names. */
export const blockKey = (cid: CID) => base32.encode(cid.multihash.bytes)

/** Identity CIDs carry their bytes inline and are never stored. */
export const isStored = (cid: CID) => cid.multihash.code !== IDENTITY_HASH

/**
 * Every block occurrence under `root` (a block reachable twice counts twice), without reading raw
 * leaves: only dag-pb nodes are fetched, for their links.
 */
export async function walkBlocks(root: CID, get: BlockGetter, out: CID[], signal?: AbortSignal): Promise<void> {
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    if (!isStored(cid)) continue
    out.push(cid)
    if (cid.code !== DAG_PB_CODEC) continue
    signal?.throwIfAborted()
    const node = decodePb(cid, await get(cid, signal))
    for (const link of node.Links) stack.push(link.Hash)
  }
}

export interface TreeDiff {
  /** Block occurrences the new version has and the old one does not. */
  added: CID[]
  removed: CID[]
}

const isDirectoryKind = (k: NodeKind) => k === 'directory' || k === 'hamt'

/**
 * What changed between two versions of a directory tree, as block occurrences. Directories (plain
 * or HAMT shards) are compared link by link, by link name, so an update costs the changed path
 * plus the replaced entries, not the whole tree; unchanged subtrees are never read.
 */
export async function diffTrees(
  oldRoot: CID | undefined,
  newRoot: CID | undefined,
  get: BlockGetter,
  signal?: AbortSignal,
): Promise<TreeDiff> {
  const diff: TreeDiff = { added: [], removed: [] }
  const visit = async (before: CID | undefined, after: CID | undefined): Promise<void> => {
    if (before !== undefined && after !== undefined && before.equals(after)) return
    if (before === undefined) {
      if (after !== undefined) await walkBlocks(after, get, diff.added, signal)
      return
    }
    if (after === undefined) return walkBlocks(before, get, diff.removed, signal)
    const bothDagPb = before.code === DAG_PB_CODEC && after.code === DAG_PB_CODEC
    const [a, b] = bothDagPb
      ? await Promise.all([get(before, signal), get(after, signal)]).then(([x, y]) => [decodeNode(before, x), decodeNode(after, y)])
      : []
    if (a === undefined || b === undefined || !isDirectoryKind(a.kind) || !isDirectoryKind(b.kind)) {
      await walkBlocks(before, get, diff.removed, signal)
      await walkBlocks(after, get, diff.added, signal)
      return
    }
    if (isStored(before)) diff.removed.push(before)
    if (isStored(after)) diff.added.push(after)
    const byName = new Map<string, { before: CID[]; after: CID[] }>()
    const slot = (name: string) => {
      const found = byName.get(name)
      if (found) return found
      const made = { before: [] as CID[], after: [] as CID[] }
      byName.set(name, made)
      return made
    }
    for (const link of a.links) slot(link.Name ?? '').before.push(link.Hash)
    for (const link of b.links) slot(link.Name ?? '').after.push(link.Hash)
    for (const { before: olds, after: news } of byName.values()) {
      for (let i = 0; i < Math.max(olds.length, news.length); i++) await visit(olds[i], news[i])
    }
  }
  await visit(oldRoot, newRoot)
  return diff
}
