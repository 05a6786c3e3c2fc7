/**
 * p2p-webapp's reserved protocol on one local peer: answering other peers' getFileList / getFile,
 * and asking them. One exchange per stream, bounded in size and time; a peer that breaks the
 * framing is reported through `onViolation` and cut off (stream aborted, connection closed).
 */
import { dialSignal } from '../../p2p/dial-signal.ts'
import type { UnixFS } from '@helia/unixfs'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import toBuffer from 'it-to-buffer'
import { CID } from 'multiformats/cid'
import { type BlockGetter, decodeNode } from '../../p2p/files/directory.ts'
import {
  contentLimit,
  encodeFrame,
  type FileContent,
  type FileList,
  FrameReader,
  FrameTooLargeError,
  goJson,
  goMap,
  MalformedFrameError,
  MAX_REQUEST_BYTES,
  MessageType,
  P2P_WEBAPP_PROTOCOL,
  parseFileContent,
  parseFileList,
  parseGetFile,
  writeBytes,
} from '../../p2p/files/frame-codec.ts'
import { detectContentType } from '../../p2p/files/mime.ts'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import { deadline } from './deadline.ts'
import { isNotFound } from './directory-edit.ts'

export type ViolationReason = 'oversized-frame' | 'malformed-frame'

export interface ProtocolLimits {
  /** Largest fileList / fileContent reply we read. */
  maxFrameBytes: number
  /** How long one whole exchange may take. */
  timeoutMs: number
}

/** What the responder needs from the local peer: its listing and its local blocks. */
export interface FileSource {
  list(signal: AbortSignal): Promise<FileList>
  reader: UnixFS
  getLocal: BlockGetter
}

export type OnViolation = (peerId: string, reason: ViolationReason, detail: string) => void

/** Inbound streams per connection: one exchange each, a few at once is plenty. */
const MAX_INBOUND_STREAMS = 8

/** getFile replies built at once, per local peer: each holds a whole file in memory. */
const MAX_CONCURRENT_SERVES = 4

const isViolation = (err: unknown) => err instanceof MalformedFrameError || err instanceof FrameTooLargeError
const reasonOf = (err: unknown): ViolationReason => (err instanceof FrameTooLargeError ? 'oversized-frame' : 'malformed-frame')

/** Abort the stream and hang up on its peer: it broke the protocol. */
function cutOff(libp2p: SwitchboardLibp2p, peer: PeerId, stream: Stream, err: Error, onViolation: OnViolation): void {
  stream.abort(err)
  onViolation(peer.toString(), reasonOf(err), err.message)
  void libp2p.hangUp(peer).catch(() => {})
}

/** Go's field order: file replies and error replies are maps (sorted keys), so is every entries map. */
export function encodeFileContent(reply: FileContent): string {
  if ('error' in reply) return goJson({ cid: reply.cid, error: reply.error })
  if (reply.isDirectory) return goJson({ cid: reply.cid, entries: goMap(reply.entries), isDirectory: true, rawNode: reply.rawNode ?? '' })
  return goJson({
    cid: reply.cid,
    content: reply.content,
    isDirectory: false,
    mimeType: reply.mimeType ?? '',
    rawNode: reply.rawNode ?? '',
  })
}

/** FileListMessage is a struct (cid, entries); each FileEntry a struct (type, cid, mimeType omitempty). */
export function encodeFileList(list: FileList): string {
  const entries: FileList['entries'] = {}
  for (const [path, e] of Object.entries(goMap(list.entries))) {
    entries[path] = e.mimeType ? { type: e.type, cid: e.cid, mimeType: e.mimeType } : { type: e.type, cid: e.cid }
  }
  return goJson({ cid: list.cid, entries })
}

/**
 * The fileContent reply for a getFile, as p2p-webapp builds it (content, sniffed type, raw root
 * block), from local blocks only: we serve what we hold, we do not fetch for others.
 */
export async function fileContentReply(
  cidText: string,
  source: FileSource,
  maxFrameBytes: number,
  signal: AbortSignal,
): Promise<FileContent> {
  let cid: CID
  try {
    cid = CID.parse(cidText)
  } catch (err) {
    return { cid: cidText, error: `invalid CID: ${(err as Error).message}` }
  }
  try {
    const raw = await source.getLocal(cid, signal)
    const rawNode = Buffer.from(raw).toString('base64')
    const node = decodeNode(cid, raw)
    if (node.kind === 'directory' || node.kind === 'hamt') {
      const entries: Record<string, string> = {}
      for await (const e of source.reader.ls(cid, { offline: true, signal })) entries[e.name] = e.cid.toString()
      return { cid: cidText, isDirectory: true, entries, rawNode }
    }
    if (node.kind !== 'raw' && node.kind !== 'file') return { cid: cidText, error: 'unsupported file type' }
    const size = node.kind === 'raw' ? BigInt(raw.length) : (node.unixfs?.fileSize() ?? 0n)
    const limit = contentLimit(maxFrameBytes) - raw.length
    if (size > BigInt(limit))
      return { cid: cidText, error: `file too large: ${size} bytes, over the ${limit} bytes one reply carries; fetch it over bitswap` }
    const content = await toBuffer(source.reader.cat(cid, { offline: true, signal }))
    return {
      cid: cidText,
      isDirectory: false,
      content: Buffer.from(content).toString('base64'),
      mimeType: detectContentType(content),
      rawNode,
    }
  } catch (err) {
    if (isNotFound(err)) return { cid: cidText, error: `file not found: ${(err as Error).message}` }
    return { cid: cidText, error: `failed to read: ${(err as Error).message}` }
  }
}

/**
 * Register the responder; returns the function that removes it. With `mayRead`, a peer it refuses
 * has its stream reset before anything is read (no reply, no reputation cost: asking is no offence).
 */
export async function serveP2pWebapp(
  libp2p: SwitchboardLibp2p,
  source: FileSource,
  limits: ProtocolLimits,
  onViolation: OnViolation,
  mayRead?: (peerId: string) => boolean,
): Promise<() => Promise<void>> {
  let serving = 0
  const serve = async (cid: string, signal: AbortSignal): Promise<FileContent> => {
    if (serving >= MAX_CONCURRENT_SERVES) return { cid, error: 'busy: too many file requests at once, retry later' }
    serving += 1
    try {
      return await fileContentReply(cid, source, limits.maxFrameBytes, signal)
    } finally {
      serving -= 1
    }
  }
  const handler = async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer
    if (mayRead !== undefined && !mayRead(peer.toString())) {
      stream.abort(new Error(`file access refused: ${peer} is neither known nor added`))
      return
    }
    const exchange = deadline(limits.timeoutMs, `p2p-webapp request from ${peer}`)
    try {
      const reader = new FrameReader(stream, exchange.signal)
      const type = await reader.type()
      let reply: Uint8Array
      if (type === MessageType.getFileList) {
        // Go sends the type byte alone; anything after it is ignored, as Go does
        reply = encodeFrame(MessageType.fileList, encodeFileList(await source.list(exchange.signal)))
      } else if (type === MessageType.getFile) {
        const { cid } = parseGetFile(await reader.body(MAX_REQUEST_BYTES))
        reply = encodeFrame(MessageType.fileContent, encodeFileContent(await serve(cid, exchange.signal)))
      } else {
        throw new MalformedFrameError(`unexpected message type ${type} in a request`)
      }
      await writeBytes(stream, reply, exchange.signal)
      await stream.close({ signal: exchange.signal })
    } catch (err) {
      if (isViolation(err)) cutOff(libp2p, peer, stream, err as Error, onViolation)
      else stream.abort(err as Error)
    } finally {
      exchange.clear()
    }
  }
  await libp2p.handle(P2P_WEBAPP_PROTOCOL, handler, { maxInboundStreams: MAX_INBOUND_STREAMS })
  return () => libp2p.unhandle(P2P_WEBAPP_PROTOCOL)
}

/** One request/reply exchange on a fresh stream; the reply frame is checked and parsed by `read`. */
async function exchange<T>(
  libp2p: SwitchboardLibp2p,
  peer: PeerId,
  request: Uint8Array,
  limits: ProtocolLimits,
  onViolation: OnViolation,
  what: string,
  read: (reader: FrameReader) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const bounded = deadline(limits.timeoutMs, `${what} from ${peer}`, signal)
  let stream: Stream | undefined
  try {
    // the exchange's deadline bounds the dial, but must not stay tied to the connection it opens
    const dial = dialSignal(bounded.signal, limits.timeoutMs)
    try {
      stream = await libp2p.dialProtocol(peer, P2P_WEBAPP_PROTOCOL, { signal: dial.signal })
    } finally {
      dial.release()
    }
    await writeBytes(stream, request, bounded.signal)
    const result = await read(new FrameReader(stream, bounded.signal))
    await stream.close({ signal: bounded.signal }).catch(() => stream?.abort(new Error('close failed')))
    return result
  } catch (err) {
    if (stream !== undefined && isViolation(err)) cutOff(libp2p, peer, stream, err as Error, onViolation)
    else stream?.abort(err as Error)
    // a deadline's own reason is the useful error, not the AbortError the stream saw
    throw bounded.signal.aborted && !(signal?.aborted ?? false) ? bounded.signal.reason : err
  } finally {
    bounded.clear()
  }
}

export function requestFileList(
  libp2p: SwitchboardLibp2p,
  peer: PeerId,
  limits: ProtocolLimits,
  onViolation: OnViolation,
  signal?: AbortSignal,
): Promise<FileList> {
  return exchange(
    libp2p,
    peer,
    encodeFrame(MessageType.getFileList),
    limits,
    onViolation,
    'file list',
    async (r) => parseFileList(await r.frame(MessageType.fileList, limits.maxFrameBytes)),
    signal,
  )
}

export function requestFile(
  libp2p: SwitchboardLibp2p,
  peer: PeerId,
  cid: string,
  limits: ProtocolLimits,
  onViolation: OnViolation,
  signal?: AbortSignal,
): Promise<FileContent> {
  const request = encodeFrame(MessageType.getFile, goJson({ cid }))
  return exchange(
    libp2p,
    peer,
    request,
    limits,
    onViolation,
    `file ${cid}`,
    async (r) => parseFileContent(await r.frame(MessageType.fileContent, limits.maxFrameBytes)),
    signal,
  )
}
