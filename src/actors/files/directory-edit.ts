/**
 * Edits of a UnixFS directory tree by path, over local blocks only: set an entry (creating missing
 * parents, replacing what was there) or remove one. Each returns the new root; the blocks written go
 * through `ctx.blocks`, so the caller decides how they are protected and counted.
 *
 * setPath edits plain directories itself, as @helia/unixfs's `cp` does (the same links, the same
 * node, the same CID), without what `cp` costs on top: it reads the whole child back to learn its
 * size (a 1 MiB file just imported is one raw block, read again from disk), and each level waits
 * for the block below it to be written before it starts. Here the new nodes are hashed from the
 * bottom up in memory and written side by side once the root is known. HAMT shards, and a directory
 * this change would turn into one, still go through `cp`.
 */
import * as dagPb from '@ipld/dag-pb'
import type { UnixFS } from '@helia/unixfs'
import { UnixFS as UnixFSData } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { type BlockGetter, DAG_PB_CODEC, decodeNode, isStored, RAW_CODEC } from '../../p2p/files/directory.ts'
import { decodePb, rememberPb } from '../../p2p/files/pb-cache.ts'
import { FileNotFoundError, PathConflictError } from './errors.ts'
import type { BlockWriter } from './file-store.ts'

export type EntryKind = 'file' | 'directory'

export interface EditContext {
  writer: UnixFS
  /** Where the nodes the edit makes are written (the change's, straight to the store: FileStore.begin's `local`). */
  blocks: Pick<BlockWriter, 'put'>
  /** Reads a local block (never the network). */
  get: BlockGetter
  shardSplitThresholdBytes: number
  /** The size of a raw block this change wrote, when known: linking it then does not read it back. */
  rawSize?: (cid: CID) => number | undefined
  signal?: AbortSignal
}

export const isNotFound = (err: unknown) => {
  const name = (err as Error)?.name
  return name === 'NotFoundError' || name === 'DoesNotExistError' || name === 'BlockNotFoundWhileOfflineError'
}

const read = (ctx: EditContext, cid: CID) => ctx.get(cid, ctx.signal)

/** An entry of a directory; `tsize` is its link's size, given for raw files (their bytes). */
export interface Entry {
  cid: CID
  kind: EntryKind
  tsize?: number
}

/** The entry `name` of `dir` as helia's stat resolves it (HAMT shards, and what a plain read cannot tell). */
async function childByStat(ctx: EditContext, dir: CID, name: string): Promise<{ cid: CID; kind: EntryKind } | undefined> {
  try {
    const stat = await ctx.writer.stat(dir, { path: name, offline: true, signal: ctx.signal })
    return { cid: stat.cid, kind: stat.type === 'directory' ? 'directory' : 'file' }
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

/**
 * The entry `name` of directory `dir`, or undefined (plain and HAMT directories alike). A plain
 * directory's entry is found from its links; a raw child is a file without reading it.
 */
export async function childOf(ctx: EditContext, dir: CID, name: string): Promise<Entry | undefined> {
  const node = decodeNode(dir, await read(ctx, dir))
  if (node.kind !== 'directory') return childByStat(ctx, dir, name)
  const link = node.links.find((l) => l.Name === name)
  if (link === undefined) return undefined
  const cid = link.Hash
  if (cid.code === RAW_CODEC && isStored(cid)) return { cid, kind: 'file', ...(link.Tsize === undefined ? {} : { tsize: link.Tsize }) }
  if (cid.code !== DAG_PB_CODEC || !isStored(cid)) return childByStat(ctx, dir, name)
  let child: ReturnType<typeof decodeNode>
  try {
    child = decodeNode(cid, await read(ctx, cid))
  } catch (err) {
    // as stat: an entry whose block is not held is no entry
    if (isNotFound(err)) return undefined
    throw err
  }
  if (child.kind === 'directory' || child.kind === 'hamt') return { cid, kind: 'directory' }
  if (child.kind === 'file') return { cid, kind: 'file' }
  return childByStat(ctx, dir, name)
}

/**
 * The bytes of the file at `names` under `root` (0 when there is none, or a directory is there),
 * as helia's stat gives its size: a raw file's link size (its bytes), a UnixFS file's size from its
 * root node. Reads directory nodes and a file's root, never a file's content.
 */
export async function fileBytesAt(ctx: EditContext, root: CID, names: string[]): Promise<number> {
  let entry: Entry | undefined = { cid: root, kind: 'directory' }
  for (const name of names) {
    if (entry?.kind !== 'directory') return 0
    entry = await childOf(ctx, entry.cid, name)
  }
  if (entry?.kind !== 'file') return 0
  if (entry.cid.code === RAW_CODEC) return entry.tsize ?? (await read(ctx, entry.cid)).length
  const node = decodeNode(entry.cid, await read(ctx, entry.cid))
  return Number(node.unixfs?.fileSize() ?? 0n)
}

/** Link `child` as `name` in `dir`, replacing an entry of that name (helia's cp). */
function cp(ctx: EditContext, child: CID, dir: CID, name: string): Promise<CID> {
  return ctx.writer.cp(child, dir, name, {
    force: true,
    offline: true,
    signal: ctx.signal,
    shardSplitThresholdBytes: ctx.shardSplitThresholdBytes,
  })
}

/** A directory node made by this edit: hashed, not yet written. */
interface NewNode {
  cid: CID
  bytes: Uint8Array
  /** Its link size in a parent: the node's bytes and all it links to (dag-pb Tsize). */
  tsize: number
}

/** Blocks of one setPath, written side by side; setPath's `written`. */
class Writes {
  readonly #puts: Promise<unknown>[] = []

  constructor(private readonly ctx: EditContext) {}

  put(node: NewNode): void {
    const put = Promise.resolve(this.ctx.blocks.put(node.cid, node.bytes, { signal: this.ctx.signal }))
    // awaited in done(); a failure before then must not be an unhandled rejection
    put.catch(() => {})
    this.#puts.push(put)
  }

  async done(): Promise<void> {
    await Promise.all(this.#puts)
  }
}

/** dag-pb's Tsize of a link to `cid`: the block's bytes and what it links to, as cp computes it. */
async function linkSize(ctx: EditContext, cid: CID | NewNode): Promise<number | undefined> {
  if (!(cid instanceof CID)) return cid.tsize
  if (!isStored(cid)) return undefined
  if (cid.code === RAW_CODEC) return ctx.rawSize?.(cid) ?? (await read(ctx, cid)).length
  if (cid.code !== DAG_PB_CODEC) return undefined
  const node = decodePb(cid, await read(ctx, cid))
  let size = dagPb.encode(node).byteLength
  for (const l of node.Links) size += l.Tsize ?? 0
  return size
}

/**
 * `dir` with `child` linked as `name`, as helia's addToDirectory makes it (links sorted, an mtime
 * refreshed); undefined when `cp` must do it: a HAMT shard, a directory the link would take over
 * the shard threshold (helia's 'links-bytes' estimate), a child of another codec.
 */
async function linked(ctx: EditContext, child: CID | NewNode, dir: CID, name: string): Promise<NewNode | undefined> {
  const bytes = await read(ctx, dir)
  if (decodeNode(dir, bytes).kind !== 'directory') return undefined
  const node = decodePb(dir, bytes)
  if (node.Data === undefined) return undefined
  const tsize = await linkSize(ctx, child)
  if (tsize === undefined) return undefined
  const hash = child instanceof CID ? child : child.cid
  const links = node.Links.filter((l) => l.Name !== name)
  links.push({ Name: name, Tsize: tsize, Hash: hash })
  let estimate = 0
  for (const l of links) estimate += Buffer.byteLength(l.Name ?? '', 'utf8') + l.Hash.byteLength
  if (estimate > ctx.shardSplitThresholdBytes) return undefined
  let data = node.Data
  const meta = UnixFSData.unmarshal(data)
  if (meta.mtime != null) {
    const ms = Date.now()
    const secs = Math.floor(ms / 1000)
    meta.mtime = { secs: BigInt(secs), nsecs: (ms - secs * 1000) * 1000 }
    data = meta.marshal()
  }
  const next = dagPb.prepare({ Data: data, Links: links })
  const encoded = dagPb.encode(next)
  let size = encoded.byteLength
  for (const l of next.Links) size += l.Tsize ?? 0
  const cid = CID.create(dir.version, DAG_PB_CODEC, await sha256.digest(encoded))
  // the quota, the counting and the next edit read this node again
  rememberPb(cid, encoded, next)
  return { cid, bytes: encoded, tsize: size }
}

/** Link `child` into `dir`: in memory when it can (written with the others), else through cp once what it links is written. */
async function link(ctx: EditContext, writes: Writes, child: CID | NewNode, dir: CID, name: string): Promise<CID | NewNode> {
  const made = await linked(ctx, child, dir, name)
  if (made !== undefined) {
    writes.put(made)
    return made
  }
  // cp reads the child: what this edit made must be on disk first
  await writes.done()
  return cp(ctx, child instanceof CID ? child : child.cid, dir, name)
}

const cidOf = (x: CID | NewNode) => (x instanceof CID ? x : x.cid)

/**
 * Put `file` (or, when undefined, a directory) at `names` under `dir`. A directory that already
 * exists there is kept with its content (the root does not change); a file in the way of a parent
 * is a conflict (409). Returns the new root and the CID now at the path as soon as they are hashed,
 * and `written`: every block the edit made is on disk (or the first write that failed). Their
 * writes run meanwhile, so the caller can start what does not need them (the root file's save);
 * a read of one of them waits for its write (fs-blockstore.ts). A failed edit returns once its
 * writes have ended.
 */
export async function setPath(
  ctx: EditContext,
  dir: CID,
  names: string[],
  file: CID | undefined,
): Promise<{ root: CID; cid: CID; written: Promise<void> }> {
  const writes = new Writes(ctx)
  try {
    const { root, cid } = await setIn(ctx, writes, dir, names, file, [])
    const written = writes.done()
    // awaited by the caller; a failure before then must not be an unhandled rejection
    written.catch(() => {})
    return { root: cidOf(root), cid, written }
  } catch (err) {
    await writes.done().catch(() => {})
    throw err
  }
}

async function setIn(
  ctx: EditContext,
  writes: Writes,
  dir: CID,
  names: string[],
  file: CID | undefined,
  done: string[],
): Promise<{ root: CID | NewNode; cid: CID }> {
  const [name, ...rest] = names as [string, ...string[]]
  const existing = await childOf(ctx, dir, name)
  if (rest.length === 0) {
    if (file === undefined && existing?.kind === 'directory') return { root: dir, cid: existing.cid }
    const child = file ?? (await ctx.writer.addDirectory())
    return { root: await link(ctx, writes, child, dir, name), cid: child }
  }
  if (existing?.kind === 'file') throw new PathConflictError(`path: ${[...done, name].join('/')} is a file, not a directory`)
  const sub = existing?.cid ?? (await ctx.writer.addDirectory())
  const updated = await setIn(ctx, writes, sub, rest, file, [...done, name])
  if (existing !== undefined && cidOf(updated.root).equals(existing.cid)) return { root: dir, cid: updated.cid }
  return { root: await link(ctx, writes, updated.root, dir, name), cid: updated.cid }
}

/** Remove the entry at `names` (a file or a whole subtree); 404 naming the path when it is not there. */
export async function removePath(ctx: EditContext, dir: CID, names: string[], done: string[] = []): Promise<CID> {
  const [name, ...rest] = names as [string, ...string[]]
  const here = [...done, name].join('/')
  const existing = await childOf(ctx, dir, name)
  if (existing === undefined) throw new FileNotFoundError(`path: ${here} does not exist`)
  if (rest.length === 0)
    return ctx.writer.rm(dir, name, { offline: true, signal: ctx.signal, shardSplitThresholdBytes: ctx.shardSplitThresholdBytes })
  if (existing.kind !== 'directory')
    throw new FileNotFoundError(`path: ${here} is a file, so ${[...done, ...names].join('/')} does not exist`)
  return cp(ctx, await removePath(ctx, existing.cid, rest, [...done, name]), dir, name)
}
