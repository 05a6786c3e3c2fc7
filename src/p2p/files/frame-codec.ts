/**
 * The frames of p2p-webapp's reserved protocol `/p2p-webapp/1.0.0`, byte-compatible with its Go
 * implementation (internal/peer/manager.go):
 *
 *   type (1 byte) | length (4 bytes, big-endian) | JSON (length bytes)
 *
 *   0 getFileList   sent as the type byte ALONE: Go writes `[0]` and its handler reads nothing more
 *   1 fileList      {"cid","entries":{"<path>":{"type","cid","mimeType"?}}}
 *   2 getFile       {"cid"}
 *   3 fileContent   {"cid","content","isDirectory","mimeType","rawNode"} (file),
 *                   {"cid","entries":{"<name>":"<cid>"},"isDirectory","rawNode"} (directory),
 *                   {"cid","error"}
 *
 * One exchange per stream: the requester opens a stream, writes one request, reads one reply. JSON
 * is written as Go's encoding/json writes it (map keys sorted by UTF-8 bytes, struct fields in
 * declaration order, `<`, `>`, `&`, U+2028 and U+2029 escaped) so replies match byte for byte.
 */
import type { Stream } from '@libp2p/interface'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { Uint8ArrayList } from 'uint8arraylist'

export const P2P_WEBAPP_PROTOCOL = '/p2p-webapp/1.0.0'

export const MessageType = { getFileList: 0, fileList: 1, getFile: 2, fileContent: 3 } as const
export type MessageType = (typeof MessageType)[keyof typeof MessageType]

/** A getFile request carries a CID and nothing else: anything bigger is an abuse. */
export const MAX_REQUEST_BYTES = 4096

/** The largest file whose content fits a frame of `frameBytes` as base64 inside JSON. */
export const contentLimit = (frameBytes: number) => Math.max(0, Math.floor(((frameBytes - 2048) * 3) / 4))

/** The peer broke the framing or the schema; the caller cuts it off. */
export class MalformedFrameError extends Error {
  override name = 'MalformedFrameError'
}

/** A frame announced more bytes than we accept. */
export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError'
}

/** The stream ended in the middle of a frame. */
export class UnexpectedEndError extends Error {
  override name = 'UnexpectedEndError'
}

/** Go's encoding/json output for a value whose objects already have their keys in Go's order. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

const utf8 = new TextEncoder()

/** Go sorts map keys by their UTF-8 bytes, which differs from JS string order above U+FFFF. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** A copy of `map` with its keys in Go's map order. */
export function goMap<V>(map: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {}
  for (const key of Object.keys(map).sort(compareUtf8)) out[key] = map[key] as V
  return out
}

export function encodeFrame(type: MessageType, json?: string): Uint8Array {
  if (json === undefined) return Uint8Array.of(type)
  const body = utf8.encode(json)
  const frame = new Uint8Array(5 + body.length)
  frame[0] = type
  new DataView(frame.buffer).setUint32(1, body.length)
  frame.set(body, 5)
  return frame
}

// ---- message shapes ------------------------------------------------------------------------

export const FileEntrySchema = Type.Object({
  type: Type.Union([Type.Literal('file'), Type.Literal('directory')]),
  cid: Type.String({ minLength: 1, maxLength: 256 }),
  mimeType: Type.Optional(Type.String({ maxLength: 256 })),
})
export type FileEntry = Static<typeof FileEntrySchema>

export const FileListSchema = Type.Object({
  cid: Type.String({ maxLength: 256 }),
  entries: Type.Record(Type.String({ maxLength: 4096 }), FileEntrySchema),
})
export type FileList = Static<typeof FileListSchema>

const GetFileSchema = Type.Object({ cid: Type.String({ maxLength: 1024 }) })

const FileErrorSchema = Type.Object({ cid: Type.String(), error: Type.String() })
const FileBodySchema = Type.Object({
  cid: Type.String(),
  isDirectory: Type.Literal(false),
  content: Type.String(),
  mimeType: Type.Optional(Type.String()),
  // older p2p-webapp versions send no rawNode: nothing to cache then
  rawNode: Type.Optional(Type.String()),
})
const DirectoryBodySchema = Type.Object({
  cid: Type.String(),
  isDirectory: Type.Literal(true),
  entries: Type.Record(Type.String(), Type.String()),
  rawNode: Type.Optional(Type.String()),
})
export const FileContentSchema = Type.Union([FileErrorSchema, FileBodySchema, DirectoryBodySchema])
export type FileContent = Static<typeof FileContentSchema>

function parseJson<S extends TSchema>(schema: S, body: Uint8Array, what: string): Static<S> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
  } catch {
    throw new MalformedFrameError(`${what} is not valid JSON`)
  }
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First()
    throw new MalformedFrameError(`${what} does not match its schema${first ? ` at ${first.path || '/'}: ${first.message}` : ''}`)
  }
  return value as Static<S>
}

export const parseGetFile = (body: Uint8Array) => parseJson(GetFileSchema, body, 'getFile')
export const parseFileList = (body: Uint8Array) => parseJson(FileListSchema, body, 'fileList')
export const parseFileContent = (body: Uint8Array) => parseJson(FileContentSchema, body, 'fileContent')

// ---- stream I/O ----------------------------------------------------------------------------

/** Settle with `promise`, or reject as soon as `signal` aborts. */
function raced<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** Reads exact byte counts off a stream; never buffers more than one frame plus one chunk. */
export class FrameReader {
  readonly #source: AsyncIterator<Uint8Array | Uint8ArrayList>
  readonly #buffer = new Uint8ArrayList()

  constructor(
    readonly stream: Stream,
    readonly signal: AbortSignal,
  ) {
    this.#source = stream[Symbol.asyncIterator]()
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffer.byteLength < n) {
      const next = await raced(this.#source.next(), this.signal)
      if (next.done === true) throw new UnexpectedEndError(`stream ended after ${this.#buffer.byteLength} of ${n} bytes`)
      this.#buffer.append(next.value)
    }
  }

  async bytes(n: number): Promise<Uint8Array> {
    await this.#fill(n)
    const out = this.#buffer.subarray(0, n)
    this.#buffer.consume(n)
    return out
  }

  async type(): Promise<number> {
    return (await this.bytes(1))[0] ?? -1
  }

  /** The length-prefixed body after a type byte; a length above `maxBytes` is refused unread. */
  async body(maxBytes: number): Promise<Uint8Array> {
    const head = await this.bytes(4)
    const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0)
    if (length > maxBytes) throw new FrameTooLargeError(`frame of ${length} bytes is over the limit of ${maxBytes}`)
    return this.bytes(length)
  }

  /** Read one `type | length | JSON` frame and check its type. */
  async frame(expected: MessageType, maxBytes: number): Promise<Uint8Array> {
    const type = await this.type()
    if (type !== expected) throw new MalformedFrameError(`expected message type ${expected}, got ${type}`)
    return this.body(maxBytes)
  }
}

/** Write bytes with backpressure, in slices so a large reply is never copied whole again. */
export async function writeBytes(stream: Stream, data: Uint8Array, signal: AbortSignal): Promise<void> {
  const slice = 1 << 20
  for (let offset = 0; offset < data.length; offset += slice) {
    signal.throwIfAborted()
    if (!stream.send(data.subarray(offset, Math.min(data.length, offset + slice)))) {
      await stream.onDrain({ signal })
    }
  }
}
