/**
 * Edits of a UnixFS directory tree by path, over local blocks only: set an entry (creating missing
 * parents, replacing what was there) or remove one. Each returns the new root; the blocks written go
 * through `writer`, so the caller decides how they are protected and counted.
 */
import type { UnixFS } from '@helia/unixfs'
import type { CID } from 'multiformats/cid'
import { FileNotFoundError, PathConflictError } from './errors.ts'

export type EntryKind = 'file' | 'directory'

export interface EditContext {
  writer: UnixFS
  shardSplitThresholdBytes: number
  signal?: AbortSignal
}

export const isNotFound = (err: unknown) => {
  const name = (err as Error)?.name
  return name === 'NotFoundError' || name === 'DoesNotExistError' || name === 'BlockNotFoundWhileOfflineError'
}

/** The entry `name` of directory `dir`, or undefined (plain and HAMT directories alike). */
export async function childOf(ctx: EditContext, dir: CID, name: string): Promise<{ cid: CID; kind: EntryKind } | undefined> {
  try {
    const stat = await ctx.writer.stat(dir, { path: name, offline: true, signal: ctx.signal })
    return { cid: stat.cid, kind: stat.type === 'directory' ? 'directory' : 'file' }
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw err
  }
}

/** Link `child` as `name` in `dir`, replacing an entry of that name. */
function link(ctx: EditContext, child: CID, dir: CID, name: string): Promise<CID> {
  return ctx.writer.cp(child, dir, name, {
    force: true,
    offline: true,
    signal: ctx.signal,
    shardSplitThresholdBytes: ctx.shardSplitThresholdBytes,
  })
}

/**
 * Put `file` (or, when undefined, a directory) at `names` under `dir`. A directory that already
 * exists there is kept with its content (the root does not change); a file in the way of a parent
 * is a conflict (409). Returns the new root and the CID now at the path.
 */
export async function setPath(
  ctx: EditContext,
  dir: CID,
  names: string[],
  file: CID | undefined,
  done: string[] = [],
): Promise<{ root: CID; cid: CID }> {
  const [name, ...rest] = names as [string, ...string[]]
  const existing = await childOf(ctx, dir, name)
  if (rest.length === 0) {
    if (file === undefined && existing?.kind === 'directory') return { root: dir, cid: existing.cid }
    const child = file ?? (await ctx.writer.addDirectory())
    return { root: await link(ctx, child, dir, name), cid: child }
  }
  if (existing?.kind === 'file') throw new PathConflictError(`path: ${[...done, name].join('/')} is a file, not a directory`)
  const sub = existing?.cid ?? (await ctx.writer.addDirectory())
  const updated = await setPath(ctx, sub, rest, file, [...done, name])
  if (existing !== undefined && updated.root.equals(existing.cid)) return { root: dir, cid: updated.cid }
  return { root: await link(ctx, updated.root, dir, name), cid: updated.cid }
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
  return link(ctx, await removePath(ctx, existing.cid, rest, [...done, name]), dir, name)
}
