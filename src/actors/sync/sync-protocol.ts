/**
 * `/switchboard/sync/1.0.0`: what two known peers tell each other about their directories. One
 * exchange per stream, both ways the same framing:
 *
 *   length (4 bytes, big-endian) | JSON (at most MAX_SYNC_MESSAGE_BYTES)
 *
 *   {"type":"root"}                 what is your directory root now?  -> {"type":"root","root":"<cid>"}
 *   {"type":"changed"}              my directory changed (a notice)   -> {"type":"ack"}
 *   {"type":"block","cid":"<cid>"}  one block you hold                -> {"type":"block","size":n} then
 *                                                                        n raw bytes (n <= MAX_BLOCK_BYTES),
 *                                                                        or {"type":"missing"}
 *
 * Served to known peers only: anyone else gets the stream reset, with no answer and no reputation
 * cost. A known peer whose message breaks the framing or the schema is reported through
 * `onViolation` and its stream aborted. The blocks themselves go over bitswap; `block` is the
 * fallback for one that bitswap does not deliver (its hash is checked by the asker).
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { CID } from 'multiformats/cid'
import { dialSignal } from '../../p2p/dial-signal.ts'
import { FrameReader, FrameTooLargeError, MalformedFrameError, writeBytes } from '../../p2p/files/frame-codec.ts'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import { deadline } from '../files/deadline.ts'
import type { OnViolation, ViolationReason } from '../files/p2p-webapp.ts'

export const SYNC_PROTOCOL = '/switchboard/sync/1.0.0'

/** Every message is a short JSON object; anything longer is refused unread. */
export const MAX_SYNC_MESSAGE_BYTES = 1024

/** Largest block asked for or served with `block` (UnixFS chunks are 1 MiB; 2 MiB leaves room). */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024

/** Inbound sync streams per connection: one exchange each (a sync asks up to 32 blocks at once). */
const MAX_INBOUND_STREAMS = 64

const CidText = Type.String({ minLength: 1, maxLength: 256 })
const RequestSchema = Type.Union([
  Type.Object({ type: Type.Literal('root') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('changed') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('block'), cid: CidText }, { additionalProperties: false }),
])
const BlockReplySchema = Type.Union([
  Type.Object(
    { type: Type.Literal('block'), size: Type.Integer({ minimum: 0, maximum: MAX_BLOCK_BYTES }) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('missing') }, { additionalProperties: false }),
])
const RootReplySchema = Type.Object({ type: Type.Literal('root'), root: CidText }, { additionalProperties: false })
const AckSchema = Type.Object({ type: Type.Literal('ack') }, { additionalProperties: false })

export type SyncRequest = Static<typeof RequestSchema>
export type SyncRequestType = SyncRequest['type']

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** The message's JSON with its 4-byte length prefix. */
export function encodeSyncMessage(message: unknown): Uint8Array {
  const body = utf8.encode(JSON.stringify(message))
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

/** Parse one message body against `schema`; anything else is a MalformedFrameError. */
export function parseSyncMessage<S extends TSchema>(schema: S, body: Uint8Array, what: string): Static<S> {
  let value: unknown
  try {
    value = JSON.parse(utf8Decoder.decode(body))
  } catch {
    throw new MalformedFrameError(`sync ${what} is not UTF-8 JSON`)
  }
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First()
    throw new MalformedFrameError(`sync ${what} does not match its schema${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`)
  }
  return value as Static<S>
}

export const parseSyncRequest = (body: Uint8Array) => parseSyncMessage(RequestSchema, body, 'request')

/** A root reply's CID, strictly: it must parse. */
export function parseRootReply(body: Uint8Array): CID {
  const { root } = parseSyncMessage(RootReplySchema, body, 'root reply')
  try {
    return CID.parse(root)
  } catch {
    throw new MalformedFrameError(`sync root reply: ${JSON.stringify(root.slice(0, 64))} is not a CID`)
  }
}

const isViolation = (err: unknown) => err instanceof MalformedFrameError || err instanceof FrameTooLargeError
const reasonOf = (err: unknown): ViolationReason => (err instanceof FrameTooLargeError ? 'oversized-frame' : 'malformed-frame')

/** What the responder needs from its local peer. */
export interface SyncResponder {
  /** Only these peers get answers. */
  isKnown(peerId: string): boolean
  /** Our directory root now. */
  root(): CID
  /** A known peer said its directory changed. */
  changed(peerId: string): void
  /** A block held locally (never fetched for the asker); undefined when not held. */
  block(cid: CID, signal: AbortSignal): Promise<Uint8Array | undefined>
  onViolation: OnViolation
  /** How long one exchange may take. */
  timeoutMs: number
}

/** Register the responder; returns the function that removes it. */
export async function serveSync(libp2p: SwitchboardLibp2p, responder: SyncResponder): Promise<() => Promise<void>> {
  const handler = async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString()
    if (!responder.isKnown(peer)) {
      stream.abort(new Error('sync is served to known peers only'))
      return
    }
    const exchange = deadline(responder.timeoutMs, `sync request from ${peer}`)
    try {
      const reader = new FrameReader(stream, exchange.signal)
      const request = parseSyncRequest(await reader.body(MAX_SYNC_MESSAGE_BYTES))
      let reply: Uint8Array
      if (request.type === 'root') {
        reply = encodeSyncMessage({ type: 'root', root: responder.root().toString() })
      } else if (request.type === 'changed') {
        responder.changed(peer)
        reply = encodeSyncMessage({ type: 'ack' })
      } else {
        reply = await blockReply(request.cid, responder, exchange.signal)
      }
      await writeBytes(stream, reply, exchange.signal)
      await stream.close({ signal: exchange.signal })
    } catch (err) {
      stream.abort(err as Error)
      if (isViolation(err)) responder.onViolation(peer, reasonOf(err), (err as Error).message)
    } finally {
      exchange.clear()
    }
  }
  await libp2p.handle(SYNC_PROTOCOL, handler, { maxInboundStreams: MAX_INBOUND_STREAMS })
  return () => libp2p.unhandle(SYNC_PROTOCOL)
}

/** The `block` answer: header and bytes in one buffer, or `missing`. */
async function blockReply(cidText: string, responder: SyncResponder, signal: AbortSignal): Promise<Uint8Array> {
  let cid: CID
  try {
    cid = CID.parse(cidText)
  } catch {
    throw new MalformedFrameError(`sync block request: ${JSON.stringify(cidText.slice(0, 64))} is not a CID`)
  }
  const bytes = await responder.block(cid, signal).catch(() => undefined)
  if (bytes === undefined || bytes.length > MAX_BLOCK_BYTES) return encodeSyncMessage({ type: 'missing' })
  const header = encodeSyncMessage({ type: 'block', size: bytes.length })
  const out = new Uint8Array(header.length + bytes.length)
  out.set(header, 0)
  out.set(bytes, header.length)
  return out
}

export interface ExchangeOptions {
  timeoutMs: number
  onViolation: OnViolation
  signal?: AbortSignal
}

/** One request and its reply on a fresh stream (dialling the peer if needed). */
async function exchange<T>(
  libp2p: SwitchboardLibp2p,
  peer: PeerId,
  request: SyncRequest,
  opts: ExchangeOptions,
  read: (body: Uint8Array, reader: FrameReader) => T | Promise<T>,
): Promise<T> {
  const bounded = deadline(opts.timeoutMs, `sync ${request.type} from ${peer}`, opts.signal)
  let stream: Stream | undefined
  try {
    // the deadline bounds the dial but must not stay tied to the connection it opens
    const dial = dialSignal(bounded.signal, opts.timeoutMs)
    try {
      stream = await libp2p.dialProtocol(peer, SYNC_PROTOCOL, { signal: dial.signal })
    } finally {
      dial.release()
    }
    await writeBytes(stream, encodeSyncMessage(request), bounded.signal)
    const reader = new FrameReader(stream, bounded.signal)
    const result = await read(await reader.body(MAX_SYNC_MESSAGE_BYTES), reader)
    await stream.close({ signal: bounded.signal }).catch(() => stream?.abort(new Error('close failed')))
    return result
  } catch (err) {
    stream?.abort(err as Error)
    if (isViolation(err)) opts.onViolation(peer.toString(), reasonOf(err), (err as Error).message)
    throw bounded.signal.aborted && !(opts.signal?.aborted ?? false) ? bounded.signal.reason : err
  } finally {
    bounded.clear()
  }
}

/** Ask `peer` for its directory root. */
export function requestRoot(libp2p: SwitchboardLibp2p, peer: PeerId, opts: ExchangeOptions): Promise<CID> {
  return exchange(libp2p, peer, { type: 'root' }, opts, parseRootReply)
}

/** Tell `peer` our directory changed; resolves on its ack. */
export function sendChanged(libp2p: SwitchboardLibp2p, peer: PeerId, opts: ExchangeOptions): Promise<void> {
  return exchange(libp2p, peer, { type: 'changed' }, opts, (body) => {
    parseSyncMessage(AckSchema, body, 'ack')
  })
}

/** Ask `peer` for one block it holds; undefined when it does not. The caller checks the bytes' hash. */
export function requestBlock(libp2p: SwitchboardLibp2p, peer: PeerId, cid: CID, opts: ExchangeOptions): Promise<Uint8Array | undefined> {
  return exchange(libp2p, peer, { type: 'block', cid: cid.toString() }, opts, async (body, reader) => {
    const reply = parseSyncMessage(BlockReplySchema, body, 'block reply')
    if (reply.type === 'missing') return undefined
    return reader.bytes(reply.size)
  })
}
