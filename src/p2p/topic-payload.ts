/**
 * Topic message payloads as WebSocket clients see them. p2p-webapp peers publish JSON text; stock
 * libp2p apps publish whatever bytes they like. Every payload is delivered, none is an offence:
 *
 * - valid UTF-8 that parses as JSON: `{data: <the value>}`, no `encoding` (p2p-webapp's shape, as
 *   before; a leading byte-order mark is skipped before parsing, as it always was);
 * - any other valid UTF-8: `{data: <the string>, encoding: 'text'}`, byte for byte (a BOM kept);
 * - anything else: `{data: <base64>, encoding: 'base64'}` (standard alphabet, padded).
 *
 * Publishing takes the same three shapes: a JSON value is sent as its `JSON.stringify` text (exactly
 * as before), `text` as the string's UTF-8 and `base64` as the bytes it decodes to.
 */
import { decodeBase64, InvalidInputError } from './validate.ts'

export type TopicEncoding = 'text' | 'base64'

export interface TopicPayload {
  data: unknown
  /** Absent for JSON: p2p-webapp clients see exactly the shape they always did. */
  encoding?: TopicEncoding
}

const utf8 = new TextEncoder()
// fatal: bytes that are not UTF-8 are base64, never text with replacement characters;
// ignoreBOM: a text payload comes through with every byte it had
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const BOM = '\uFEFF'

export function decodeTopicPayload(bytes: Uint8Array): TopicPayload {
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), encoding: 'base64' }
  }
  try {
    return { data: JSON.parse(text.startsWith(BOM) ? text.slice(1) : text) }
  } catch {
    return { data: text, encoding: 'text' }
  }
}

/** The bytes to publish for a client's `data` (any JSON value) and optional `encoding`; `field` names `data` in errors. */
export function encodeTopicPayload(data: unknown, encoding?: TopicEncoding, field = 'data'): Uint8Array {
  if (encoding === undefined) return utf8.encode(JSON.stringify(data))
  if (typeof data !== 'string') throw new InvalidInputError(field, `must be a string when encoding is ${encoding}`)
  return encoding === 'text' ? utf8.encode(data) : decodeBase64(data, field)
}
