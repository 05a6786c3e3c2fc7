/**
 * What a fallback peer sent for a getFile, checked against the CID before anything is believed or
 * cached: the root block (`rawNode`) must hash to the CID; a directory's entries are read from that
 * verified block (plain directories); a file's content must fit the root's leaf sizes, and every
 * leaf that can be rebuilt from it and verified is cached too, so the whole file is served locally
 * afterwards. p2p-webapp caches `rawNode` unchecked; we never store a block that fails its hash.
 */
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { OperationFailedError } from '../../errors.ts'
import type { FileContent } from '../../p2p/files/frame-codec.ts'
import { DAG_PB_CODEC, decodeNode, RAW_CODEC } from '../../p2p/files/directory.ts'
import { detectContentType } from '../../p2p/files/mime.ts'
import type { BlockWriter } from './file-store.ts'

/** What getfile hands back: a file's bytes or a directory's names. */
export type GotFile = { type: 'file'; mimeType: string; content: Uint8Array } | { type: 'directory'; entries: Record<string, string> }

/** The peer's reply contradicts the CID: it lied or is broken. */
export class UnverifiableContentError extends OperationFailedError {
  override name = 'UnverifiableContentError'
}

/** The peer answered with an error of its own (not found, too large...). */
export class RemoteFileError extends OperationFailedError {
  override name = 'RemoteFileError'
}

const SHA2_256 = 0x12

async function hashMatches(cid: CID, bytes: Uint8Array): Promise<boolean | undefined> {
  if (cid.multihash.code !== SHA2_256) return undefined
  const digest = await sha256.digest(bytes)
  return Buffer.compare(digest.digest, cid.multihash.digest) === 0
}

function sameBlock(text: string, cid: CID): boolean {
  try {
    return Buffer.compare(CID.parse(text).multihash.bytes, cid.multihash.bytes) === 0
  } catch {
    return false
  }
}

const fromBase64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'))

/** A dag-pb file leaf as the importers write it, tried for leaves linked as dag-pb. */
function dagPbLeaf(data: Uint8Array): Uint8Array {
  return dagPb.encode({ Data: new UnixFS({ type: 'file', data }).marshal(), Links: [] })
}

/**
 * Check `reply` for `cid`; cache the root and every leaf verified; return what the client gets.
 * `maxBytes` bounds the content accepted.
 */
export async function acceptReply(cid: CID, reply: FileContent, blocks: BlockWriter, maxBytes: number): Promise<GotFile> {
  if ('error' in reply) throw new RemoteFileError(reply.error)
  if (!sameBlock(reply.cid, cid)) throw new UnverifiableContentError(`reply is for ${reply.cid.slice(0, 100)}, not ${cid}`)
  const raw = reply.rawNode === undefined ? undefined : fromBase64(reply.rawNode)
  const rootOk = raw === undefined ? undefined : await hashMatches(cid, raw)
  if (rootOk === false) throw new UnverifiableContentError(`rawNode does not hash to ${cid}`)
  const node = raw !== undefined && rootOk === true ? decodeNode(cid, raw) : undefined

  if (reply.isDirectory) {
    if (node !== undefined && node.kind !== 'directory' && node.kind !== 'hamt')
      throw new UnverifiableContentError(`${cid} is not a directory`)
    if (raw !== undefined && rootOk === true) await blocks.put(cid, raw)
    if (node?.kind === 'directory') {
      // a plain directory's names are in the verified block: believe those, not the JSON
      return { type: 'directory', entries: Object.fromEntries(node.links.map((l) => [l.Name ?? '', l.Hash.toString()])) }
    }
    return { type: 'directory', entries: reply.entries }
  }

  const content = fromBase64(reply.content)
  if (content.length > maxBytes) throw new UnverifiableContentError(`content of ${content.length} bytes is over the limit of ${maxBytes}`)
  const mimeType = reply.mimeType || detectContentType(content)
  if (node === undefined || raw === undefined) {
    // no verifiable root (older peer, or a hash we cannot check): deliver, cache nothing
    if (cid.code === RAW_CODEC && (await hashMatches(cid, content)) === false)
      throw new UnverifiableContentError(`content does not hash to ${cid}`)
    return { type: 'file', mimeType, content }
  }
  if (node.kind === 'raw') {
    if (Buffer.compare(raw, content) !== 0) throw new UnverifiableContentError(`content differs from the raw block ${cid}`)
    await blocks.put(cid, raw)
    return { type: 'file', mimeType, content }
  }
  if (node.kind !== 'file' || node.unixfs === undefined) throw new UnverifiableContentError(`${cid} is not a UnixFS file`)
  const inline = node.unixfs.data ?? new Uint8Array(0)
  if (BigInt(content.length) !== node.unixfs.fileSize())
    throw new UnverifiableContentError(`content is ${content.length} bytes, the file is ${node.unixfs.fileSize()}`)
  if (Buffer.compare(inline, content.subarray(0, inline.length)) !== 0)
    throw new UnverifiableContentError('content differs from the data in the root block')
  await blocks.put(cid, raw)
  await cacheLeaves(node.links, node.unixfs.blockSizes, content.subarray(inline.length), blocks)
  return { type: 'file', mimeType, content }
}

/** Rebuild leaves from the content by the root's block sizes; store the ones that hash right. */
async function cacheLeaves(links: dagPb.PBLink[], sizes: bigint[], content: Uint8Array, blocks: BlockWriter): Promise<void> {
  if (links.length !== sizes.length) return
  let offset = 0
  for (let i = 0; i < links.length; i++) {
    const link = links[i] as dagPb.PBLink
    const size = Number(sizes[i])
    const slice = content.subarray(offset, offset + size)
    offset += size
    const candidate = link.Hash.code === RAW_CODEC ? slice : link.Hash.code === DAG_PB_CODEC ? dagPbLeaf(slice) : undefined
    // an intermediate node (deeper tree) cannot be rebuilt: its leaves stay uncached
    if (candidate !== undefined && (await hashMatches(link.Hash, candidate)) === true) await blocks.put(link.Hash, candidate)
  }
}
