/**
 * Wire frames of direct messages (`send` / `peerData`) on an application protocol stream,
 * compatible with p2p-webapp's Go peers (internal/peer/virtual_connection.go):
 *
 *   length (4 bytes, big-endian) | JSON (length bytes)
 *
 *   {"type":"data","id":"<id>","data":"<base64 of the message's JSON>"}
 *   {"type":"ack","id":"<id>"}                     the receiver delivered message <id>
 *   {"type":"nack","id":"<id>","error":"<why>"}    refused (Switchboard only; Go peers ignore it)
 *
 * `data` is base64 because Go marshals its []byte field that way. Both ends may send any frame on
 * any stream of the protocol; docs/protocol.md ("Direct messages: wire format") has the rules.
 */
import { LengthPrefixedDecoder } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { MalformedFrameError } from './files/frame-codec.ts'
import { InvalidInputError } from './validate.ts'

export { MalformedFrameError }

/** Largest frame read or written; like the WebSocket limit. */
export const MAX_MESSAGE_FRAME_BYTES = 16 * 1024 * 1024
/** Message ids are short strings; Go uses "<unix nanos>-<n>". */
export const MAX_MESSAGE_ID_LENGTH = 128
/** A nack's reason is for humans and logs, kept short. */
export const MAX_NACK_REASON_LENGTH = 1024

export type MessageFrame =
  | { type: 'data'; id: string; data: string }
  | { type: 'ack'; id: string }
  | { type: 'nack'; id: string; error: string }

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/** The frame's JSON with its 4-byte length prefix, ready for `stream.send`. */
export function encodeMessageFrame(frame: MessageFrame): Uint8Array {
  // field order as Go writes them: type, id, then data or error
  const body = utf8.encode(
    frame.type === 'data'
      ? `{"type":"data","id":${JSON.stringify(frame.id)},"data":"${frame.data}"}`
      : frame.type === 'ack'
        ? `{"type":"ack","id":${JSON.stringify(frame.id)}}`
        : `{"type":"nack","id":${JSON.stringify(frame.id)},"error":${JSON.stringify(frame.error.slice(0, MAX_NACK_REASON_LENGTH))}}`,
  )
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

/** A data frame for `value`; its `data` field is the base64 of the value's JSON text. */
export function dataFrame(id: string, json: string): Uint8Array {
  return encodeMessageFrame({ type: 'data', id, data: Buffer.from(json, 'utf8').toString('base64') })
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_MESSAGE_ID_LENGTH
}

/** Parse one frame body; anything that is not exactly one of the three shapes is a MalformedFrameError. */
export function decodeMessageFrame(body: Uint8Array | Uint8ArrayList): MessageFrame {
  const bytes = body instanceof Uint8Array ? body : body.subarray()
  let value: unknown
  try {
    value = JSON.parse(utf8Decoder.decode(bytes))
  } catch {
    throw new MalformedFrameError('message frame is not valid UTF-8 JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new MalformedFrameError('message frame is not a JSON object')
  const f = value as Record<string, unknown>
  if (!isId(f.id)) throw new MalformedFrameError(`message frame id must be a string of 1 to ${MAX_MESSAGE_ID_LENGTH} characters`)
  switch (f.type) {
    case 'data':
      if (typeof f.data !== 'string' || f.data.length % 4 !== 0 || !BASE64.test(f.data))
        throw new MalformedFrameError('data frame needs base64 `data`')
      return { type: 'data', id: f.id, data: f.data }
    case 'ack':
      return { type: 'ack', id: f.id }
    case 'nack':
      return { type: 'nack', id: f.id, error: typeof f.error === 'string' ? f.error.slice(0, MAX_NACK_REASON_LENGTH) : 'refused' }
    default:
      throw new MalformedFrameError(`unknown message frame type ${JSON.stringify(String(f.type).slice(0, 32))}`)
  }
}

/** The message's JSON value from a data frame's `data`; not JSON is a MalformedFrameError. */
export function decodeData(base64: string): unknown {
  try {
    return JSON.parse(utf8Decoder.decode(Buffer.from(base64, 'base64')))
  } catch {
    throw new MalformedFrameError('data is not base64 of UTF-8 JSON')
  }
}

/**
 * Splits arriving bytes into frame bodies. Throws (a length over `maxFrameBytes`, a buffer over
 * twice that) are the peer's fault: the caller cuts the stream.
 */
export function messageFrameDecoder(maxFrameBytes = MAX_MESSAGE_FRAME_BYTES): LengthPrefixedDecoder {
  return new LengthPrefixedDecoder({
    maxDataLength: maxFrameBytes,
    maxBufferSize: 2 * maxFrameBytes + 8,
    lengthDecoder: (data) => {
      if (data.byteLength < 4) throw new RangeError('need 4 length bytes')
      return data instanceof Uint8Array ? new DataView(data.buffer, data.byteOffset, 4).getUint32(0) : data.getUint32(0)
    },
    encodingLength: () => 4,
  })
}

/** Longest application protocol id accepted from a client. */
export const MAX_PROTOCOL_ID_LENGTH = 256
// visible ASCII only: multistream-select ends ids with a newline, and ids are compared byte for byte
// go-libp2p takes any string, and p2p-webapp apps use plain names like "chat": visible ASCII is enough
const PROTOCOL_ID = /^[\x21-\x7e]+$/

/** A client's protocol id: 1 to 256 visible ASCII characters; otherwise a 400 naming `field`. */
export function checkProtocolId(value: string, field = 'protocol'): string {
  if (value.length === 0) throw new InvalidInputError(field, 'must not be empty')
  if (value.length > MAX_PROTOCOL_ID_LENGTH)
    throw new InvalidInputError(field, `is ${value.length} characters long, over the limit of ${MAX_PROTOCOL_ID_LENGTH}`)
  if (!PROTOCOL_ID.test(value))
    throw new InvalidInputError(field, `${JSON.stringify(value.slice(0, 64))} must hold only visible ASCII characters (no spaces)`)
  return value
}
