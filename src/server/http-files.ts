/**
 * Files of any size over HTTP, streamed both ways (never whole in memory), token and origin
 * checked like /ws:
 *   PUT    /files/<alias>/<path>   body = file content -> {fileCid, rootCid}; ?directory=true makes a directory
 *   GET    /files/<alias>/<path>   a file (Range supported) or a directory's entries as JSON
 *   DELETE /files/<alias>/<path>   remove a file or subtree
 *   GET    /ipfs/<cid>             any file or directory by CID, fetched over bitswap if need be (?peer=<alias>)
 */
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import toBuffer from 'it-to-buffer'
import type { CID } from 'multiformats/cid'
import { IdleDeadline } from '../actors/files/deadline.ts'
import type { FileService } from '../actors/files/file-service.ts'
import { fileService } from '../actors/files/files.ts'
import { SNIFF_BYTES, sniffMime } from '../p2p/files/mime.ts'
import { parseCid } from '../p2p/validate.ts'
import type { Switchboard } from '../switchboard.ts'
import { authorized, originAllowed } from './auth.ts'
import { notFound, RpcError, toRpcError } from './rpc-error.ts'

export interface HttpFilesOptions {
  sb: Switchboard
  token: string
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

function serviceFor(sb: Switchboard, alias: string): FileService {
  if (sb.runtimes.get(alias) === undefined) throw notFound(`no local peer ${JSON.stringify(alias.slice(0, 100))}`)
  return fileService(sb, alias)
}

/** Abort when the client goes away before the response is complete. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client closed the connection'))
  })
  return controller.signal
}

/** Chunks of `source`, each one counting as progress for `idle`. */
async function* touching(source: AsyncIterable<Uint8Array>, idle: IdleDeadline): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of source) {
      idle.touch()
      yield chunk
    }
  } finally {
    idle.clear()
  }
}

/** Send a file (ranges, type from its first bytes and name) or a directory listing. */
async function sendCid(req: FastifyRequest, reply: FastifyReply, sb: Switchboard, service: FileService, cid: CID, name: string | undefined) {
  const signal = clientGone(reply)
  const idle = new IdleDeadline(sb.config.getFileTimeoutMs, `GET ${cid}`, signal)
  let streaming = false
  try {
    const { kind, size } = await service.stat(cid, idle.signal)
    idle.touch()
    if (kind === 'directory') {
      const entries = await service.entries(cid, idle.signal, () => idle.touch())
      return reply.type('application/json').send({ cid: cid.toString(), entries })
    }
    const total = Number(size)
    const head = total === 0 ? new Uint8Array(0) : await toBuffer(service.cat(cid, { length: SNIFF_BYTES, signal: idle.signal }))
    idle.touch()
    reply.header('accept-ranges', 'bytes').header('etag', `"${cid.toString()}"`).type(sniffMime(head, name))
    const range = parseRange(req.headers.range, total)
    if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${total}`).send()
    const start = range?.start ?? 0
    const length = range === undefined ? total : range.end - range.start + 1
    if (range !== undefined) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${total}`)
    reply.header('content-length', length)
    if (req.method === 'HEAD' || length === 0) return reply.send()
    streaming = true
    return reply.send(Readable.from(touching(service.cat(cid, { offset: start, length, signal: idle.signal }), idle), { objectMode: false }))
  } finally {
    if (!streaming) idle.clear()
  }
}

function sendError(reply: FastifyReply, err: unknown) {
  const e = toRpcError(err)
  return reply.code(e.code >= 400 && e.code < 600 ? e.code : 500).send({ error: e.message })
}

async function httpFiles(app: FastifyInstance, { sb, token }: HttpFilesOptions) {
  await app.register(async (scoped) => {
    scoped.addHook('onRequest', async (req, reply) => {
      if (!originAllowed(req, sb.config.allowedOrigins)) return reply.code(403).send({ error: `origin ${req.headers.origin} is not allowed` })
      if (!authorized(req, token)) return reply.code(401).send({ error: 'missing or wrong token' })
    })
    // uploads stream straight into the importer: no body parser, no body size limit
    scoped.removeAllContentTypeParsers()
    scoped.addContentTypeParser('*', (_req, payload, done) => done(null, payload))

    scoped.put('/files/:alias/*', async (req, reply) => {
      const { alias, '*': path } = req.params as { alias: string; '*': string }
      const directory = (req.query as Record<string, unknown>).directory === 'true'
      try {
        const service = serviceFor(sb, alias)
        const body = (req.body ?? req.raw) as AsyncIterable<Uint8Array>
        const stored = await service.storeFile(path, directory ? undefined : body, directory, clientGone(reply))
        return reply.send({ fileCid: stored.fileCid.toString(), rootCid: stored.rootCid.toString() })
      } catch (err) {
        return sendError(reply, err)
      }
    })

    scoped.delete('/files/:alias/*', async (req, reply) => {
      const { alias, '*': path } = req.params as { alias: string; '*': string }
      try {
        const rootCid = await serviceFor(sb, alias).removeFile(path, clientGone(reply))
        return reply.send({ rootCid: rootCid.toString() })
      } catch (err) {
        return sendError(reply, err)
      }
    })

    scoped.get('/files/:alias/*', async (req, reply) => {
      const { alias, '*': path } = req.params as { alias: string; '*': string }
      try {
        const service = serviceFor(sb, alias)
        const { cid, name } = await service.resolve(path)
        return await sendCid(req, reply, sb, service, cid, name)
      } catch (err) {
        return sendError(reply, err)
      }
    })

    scoped.get('/ipfs/:cid', async (req, reply) => {
      const { cid } = req.params as { cid: string }
      const alias = (req.query as Record<string, unknown>).peer
      try {
        const service = serviceFor(sb, typeof alias === 'string' ? alias : 'peer-a')
        return await sendCid(req, reply, sb, service, parseCid(cid), undefined)
      } catch (err) {
        if (err instanceof RpcError || (err as Error).name === 'InvalidInputError') return sendError(reply, err)
        if ((err as Error).name === 'TimeoutError') return sendError(reply, new RpcError(504, `${cid} was not found locally or through the network: ${(err as Error).message}`))
        return sendError(reply, err)
      }
    })
  })
}

/** The file routes as a plugin: `app.register(httpFilesPlugin, {sb, token})`. */
export const httpFilesPlugin = fp(httpFiles, { name: 'switchboard-http-files' })
