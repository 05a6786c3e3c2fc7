/**
 * Files of any size over HTTP, streamed both ways (never whole in memory), token and origin
 * checked like /ws:
 *   PUT    /files/<alias>/<path>   body = file content -> {fileCid, rootCid}; ?directory=true makes a directory
 *   GET    /files/<alias>/<path>   a file (Range supported) or a directory's entries as JSON
 *   DELETE /files/<alias>/<path>   remove a file or subtree
 *   GET    /ipfs/<cid>             any file or directory by CID, fetched over bitswap if need be (?peer=<alias>)
 * HEAD answers the headers GET would (the real content-length), without a body. Uploads meet the
 * file size limit, the peer's quota (413) and the idle timeout (408); a refused upload's connection
 * is closed, since its body was not read.
 */
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { IdleDeadline } from '../actors/files/deadline.ts'
import type { FileService } from '../actors/files/file-service.ts'
import { readAhead } from '../actors/files/read-ahead.ts'
import { SNIFF_BYTES, sniffMime } from '../p2p/files/mime.ts'
import { parseCid } from '../p2p/validate.ts'
import type { ServerDeps } from './method.ts'
import { notFound, RpcError } from './rpc-error.ts'

export interface HttpFilesOptions {
  nodes: ServerDeps['nodes']
  /** A fetch's idle timeout (getFileTimeoutMs). */
  getFileTimeoutMs: number
}

/** A single `bytes=` range against `size`; undefined for none or a form we do not serve (multiple ranges). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m) return undefined
  const [, from = '', to = ''] = m
  if (from === '' && to === '') return undefined
  let start: number
  let end: number
  if (from === '') {
    // a suffix: the last N bytes
    const n = Number(to)
    if (n === 0) return 'unsatisfiable'
    start = Math.max(0, size - n)
    end = size - 1
  } else {
    start = Number(from)
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1)
  }
  if (start >= size || start > end) return 'unsatisfiable'
  return { start, end }
}

function serviceFor(nodes: ServerDeps['nodes'], alias: string): FileService {
  if (nodes.get(alias) === undefined) throw notFound(`no local peer ${JSON.stringify(alias.slice(0, 100))}`)
  return nodes.services(alias).files.service
}

/**
 * Whether the client went away before the response was complete (its 'close' may be past already).
 * The request's socket, not the response's: a pipelined response has none until its turn.
 */
function hungUp(reply: FastifyReply): boolean {
  return !reply.raw.writableFinished && (reply.raw.destroyed || reply.request.raw.socket.destroyed)
}

/** Abort when the client goes away before the response is complete, or at once if it already has. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  const abort = () => controller.abort(new Error('client closed the connection'))
  // a client that left while the request waited (for a collection, say) emits no 'close' any more
  if (hungUp(reply)) abort()
  else
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort()
    })
  return controller.signal
}

/** Chunks of `source`, each one counting as progress for `idle`; `done` learns whether all were sent. */
async function* touching(source: AsyncIterable<Uint8Array>, idle: IdleDeadline, done: (ok: boolean) => void): AsyncGenerator<Uint8Array> {
  let ok = false
  try {
    for await (const chunk of source) {
      idle.touch()
      yield chunk
    }
    ok = true
  } finally {
    idle.clear()
    done(ok)
  }
}

/** A declared Content-Length, if the request has a valid one. */
function declaredLength(req: FastifyRequest): number | undefined {
  const header = req.headers['content-length']
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined
}

/**
 * Send a file (ranges, type from its first bytes and name) or a directory listing. A CID that
 * cannot be found (locally or over bitswap) within `getFileTimeoutMs` of no progress is 504.
 * `done` learns when the response is over and whether it was all sent.
 */
async function sendCid(
  req: FastifyRequest,
  reply: FastifyReply,
  getFileTimeoutMs: number,
  service: FileService,
  cid: CID,
  name: string | undefined,
  done: (ok: boolean) => void = () => {},
) {
  const signal = clientGone(reply)
  const idle = new IdleDeadline(getFileTimeoutMs, `GET ${cid}`, signal)
  let body: AsyncIterable<Uint8Array> | undefined
  try {
    body = await prepare(req, reply, service, cid, name, idle)
  } catch (err) {
    idle.clear()
    done(false)
    if (idle.signal.aborted && !signal.aborted)
      throw new RpcError(504, `${cid} was not found locally or through the network: no block for ${idle.ms} ms (getFileTimeoutMs)`)
    throw err
  }
  if (body === undefined) {
    // headers only (HEAD, an empty file, 416) or a directory listing
    idle.clear()
    done(true)
    return reply
  }
  return reply.send(Readable.from(touching(body, idle, done), { objectMode: false }))
}

/** Everything up to the body: sends what has no streamed body itself, else returns the body to stream. */
async function prepare(
  req: FastifyRequest,
  reply: FastifyReply,
  service: FileService,
  cid: CID,
  name: string | undefined,
  idle: IdleDeadline,
): Promise<AsyncIterable<Uint8Array> | undefined> {
  const { kind, size } = await service.stat(cid, idle.signal)
  idle.touch()
  if (kind === 'directory') {
    const entries = await service.entries(cid, idle.signal, () => idle.touch())
    reply.type('application/json').send({ cid: cid.toString(), entries })
    return undefined
  }
  const total = Number(size)
  const range = parseRange(req.headers.range, total)
  const start = range === undefined || range === 'unsatisfiable' ? 0 : range.start
  const length = range === undefined ? total : range === 'unsatisfiable' ? 0 : range.end - range.start + 1
  // the body's blocks are asked for now, before sniffing waits for the first one: not one round
  // trip to the network after another (the sniff's block comes with them)
  const body =
    req.method === 'HEAD' || length === 0 ? undefined : readAhead(service.cat(cid, { offset: start, length, signal: idle.signal }))
  try {
    const head = total === 0 ? new Uint8Array(0) : await toBuffer(service.cat(cid, { length: SNIFF_BYTES, signal: idle.signal }))
    idle.touch()
    reply.header('accept-ranges', 'bytes').header('etag', `"${cid.toString()}"`).type(sniffMime(head, name))
  } catch (err) {
    body?.cancel()
    throw err
  }
  if (range === 'unsatisfiable') {
    reply.code(416).header('content-range', `bytes */${total}`).send()
    return undefined
  }
  if (range !== undefined) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${total}`)
  reply.header('content-length', length)
  // an empty stream, not an empty body: Fastify's HEAD handling would answer content-length 0
  if (req.method === 'HEAD') reply.send(Readable.from([]))
  else if (body === undefined) reply.send()
  else return body.stream
  return undefined
}

/**
 * The routes; authentication and error replies are the enclosing scope's (app.ts): a thrown error
 * becomes `{error}` with its protocol code there.
 */
async function httpFiles(app: FastifyInstance, { nodes, getFileTimeoutMs }: HttpFilesOptions) {
  await app.register(async (scoped) => {
    // uploads stream straight into the importer: no body parser, no body size limit
    scoped.removeAllContentTypeParsers()
    scoped.addContentTypeParser('*', (_req, payload, done) => done(null, payload))

    scoped.put('/files/:alias/*', async (req, reply) => {
      const { alias, '*': path } = req.params as { alias: string; '*': string }
      const directory = (req.query as Record<string, unknown>).directory === 'true'
      const service = serviceFor(nodes, alias)
      const body = (req.body ?? req.raw) as AsyncIterable<Uint8Array>
      const stored = await service.storeFile(path, directory ? undefined : body, directory, clientGone(reply), declaredLength(req))
      return reply.send({ fileCid: stored.fileCid.toString(), rootCid: stored.rootCid.toString() })
    })

    scoped.delete('/files/:alias/*', async (req, reply) => {
      const { alias, '*': path } = req.params as { alias: string; '*': string }
      const rootCid = await serviceFor(nodes, alias).removeFile(path, clientGone(reply))
      return reply.send({ rootCid: rootCid.toString() })
    })

    scoped.get('/files/:alias/*', async (req, reply) => {
      const { alias, '*': path } = req.params as { alias: string; '*': string }
      const service = serviceFor(nodes, alias)
      const { cid, name } = await service.resolve(path)
      return await sendCid(req, reply, getFileTimeoutMs, service, cid, name)
    })

    scoped.get('/ipfs/:cid', async (req, reply) => {
      const { cid } = req.params as { cid: string }
      const alias = (req.query as Record<string, unknown>).peer
      const service = serviceFor(nodes, typeof alias === 'string' ? alias : 'peer-a')
      const parsed = parseCid(cid)
      // what it fetches is kept from the collector meanwhile, and cached once it was all sent
      // (beginFetch waits while a collection runs; the client may leave meanwhile)
      const fetch = await service.beginFetch(parsed)
      // the hold is given back however the response ends, even when its body is never read
      reply.raw.once('close', () => void fetch.finish(false))
      if (hungUp(reply)) {
        await fetch.finish(false)
        throw new RpcError(499, 'client closed the connection')
      }
      return await sendCid(req, reply, getFileTimeoutMs, service, parsed, undefined, (ok) => void fetch.finish(ok && req.method !== 'HEAD'))
    })
  })
}

export const httpFilesPlugin = fp(httpFiles, { name: 'switchboard-http-files' })
