import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PACKAGE_ROOT as ROOT } from '../package-root.ts'
import { authorized, TOKEN_COOKIE } from './auth.ts'

const NAME = /^[a-z0-9][a-z0-9-]*$/
const ASSET = /^[a-z0-9][a-z0-9-]*\.js(\.map)?$/

/**
 * The pages in examples/ at /examples/<name>/: index.html from examples/<name>/, its bundle
 * (app.js, built by `npm run build:examples`) from dist/examples/<name>/. Same rules as the
 * dashboard: `?token=` sets the cookie and redirects to the address without it; no token, 401.
 */
export async function examplesRoutes(app: FastifyInstance, opts: { token: string; root?: string }): Promise<void> {
  const root = opts.root ?? ROOT
  const guard = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (authorized(req, opts.token)) return true
    void reply.code(401).type('text/plain').send('401: open the URL with ?token=... printed at start\n')
    return false
  }

  app.get('/examples/:name', async (req, reply) => {
    const { name } = req.params as { name: string }
    const url = new URL(req.url, 'http://x')
    return reply.redirect(`/examples/${encodeURIComponent(name)}/${url.search}`)
  })

  app.get('/examples/:name/', async (req, reply) => {
    const { name } = req.params as { name: string }
    const url = new URL(req.url, 'http://x')
    const q = url.searchParams.get('token')
    if (q !== null && authorized(req, opts.token)) {
      // the cookie lets the page open ws://host/ws, as the dashboard does; the rest of the query stays
      url.searchParams.delete('token')
      reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(q)}; HttpOnly; SameSite=Strict; Path=/`)
      return reply.redirect(`${url.pathname}${url.search}`)
    }
    if (!guard(req, reply)) return reply
    if (!NAME.test(name)) return reply.code(404).type('text/plain').send('404: no such example\n')
    const html = await readFile(join(root, 'examples', name, 'index.html'), 'utf8').catch(() => undefined)
    if (html === undefined) return reply.code(404).type('text/plain').send('404: no such example\n')
    return reply.type('text/html; charset=utf-8').send(html)
  })

  app.get('/examples/:name/:file', async (req, reply) => {
    const { name, file } = req.params as { name: string; file: string }
    if (!guard(req, reply)) return reply
    if (!NAME.test(name) || !ASSET.test(file)) return reply.code(404).type('text/plain').send('404: no such file\n')
    const body = await readFile(join(root, 'dist', 'examples', name, file)).catch(() => undefined)
    if (body === undefined) return reply.code(404).type('text/plain').send(`404: ${file} is not built: run npm run build:examples\n`)
    return reply.type(file.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8').send(body)
  })
}
