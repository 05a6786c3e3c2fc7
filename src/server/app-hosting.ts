import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { extname, join, sep } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ConfigError } from '../config.ts'
import { authorized, TOKEN_COOKIE } from './auth.ts'

/** Paths the daemon answers itself; an app never shadows them, and the fallback never answers for them. */
export const RESERVED_PREFIXES = ['/ws', '/files', '/ipfs', '/metrics', '/inspect', '/examples', '/health', '/_switchboard']

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.pdf': 'application/pdf',
}

export function contentTypeOf(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream'
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * What a browser sees without the token: how to get in. A non-browser client gets one line of text.
 * `dashboard` is where the page lives, so the hint names the right address.
 */
export function sendUnauthorized(req: FastifyRequest, reply: FastifyReply, path = '/'): FastifyReply {
  const html = (req.headers.accept ?? '').includes('text/html')
  if (!html) return reply.code(401).type('text/plain; charset=utf-8').send('401: open the URL with ?token=... printed at start\n')
  const host = esc(req.headers.host ?? 'localhost')
  return reply
    .code(401)
    .type('text/html; charset=utf-8')
    .send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Switchboard: sign in</title>
<style>body{font:16px system-ui,sans-serif;margin:0 auto;max-width:36rem;padding:1.5rem;color:#222;line-height:1.5}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px;word-break:break-all}</style></head>
<body id="no-token"><h1>Switchboard needs its token</h1>
<p>This daemon only answers browsers that hold its access token. Open the address it printed when it started, the
one ending in <code>?token=…</code>, for example <code>http://${host}${esc(path)}?token=…</code>. The token then
lives in a cookie of this browser and leaves the address bar.</p>
<p>Lost it? On the machine running the daemon, run <code>switchboard info</code> (or <code>switchboard status</code>):
it prints the address with the token. The token is also in the file <code>token</code> of the daemon's data directory
(<code>~/.switchboard</code> unless you chose another).</p>
</body></html>
`)
}

/** Sets the token cookie from `?token=` and redirects to the same address without it (other query parameters kept). */
export function tokenRedirect(req: FastifyRequest, reply: FastifyReply, token: string): FastifyReply | undefined {
  const url = new URL(req.url, 'http://x')
  const q = url.searchParams.get('token')
  if (q === null || !authorized(req, token)) return undefined
  url.searchParams.delete('token')
  // the cookie lets pages served here open a plain `new WebSocket('ws://host/ws')`
  reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(q)}; HttpOnly; SameSite=Strict; Path=/`)
  return reply.redirect(`${url.pathname}${url.search}`)
}

const isFile = async (path: string) => (await stat(path).catch(() => undefined))?.isFile() === true

/**
 * The real path of the directory to serve: `dir` itself when it holds index.html, else its `html/`
 * when that does (p2p-webapp's `--dir` layout: `html/`, `ipfs/`, `storage/`; only `html/` is served).
 * A missing directory, or one without either index.html, is a configuration error.
 */
export async function checkAppDir(dir: string): Promise<string> {
  const root = await realpath(dir).catch(() => undefined)
  if (root === undefined || !(await stat(root)).isDirectory())
    throw new ConfigError(`app directory ${dir} does not exist or is not a directory`)
  if (await isFile(join(root, 'index.html'))) return root
  if (await isFile(join(root, 'html', 'index.html'))) return realpath(join(root, 'html'))
  throw new ConfigError(`app directory ${dir} has no index.html (nor html/index.html, p2p-webapp's layout)`)
}

type Found = { kind: 'file'; path: string; size: number } | { kind: 'dir' } | { kind: 'none' } | { kind: 'refused' }

/** The file a URL path names inside root: `..`, encoded separators, NUL, dot-files and symlinks out of root are refused. */
async function resolvePath(root: string, pathname: string): Promise<Found> {
  const segments: string[] = []
  for (const raw of pathname.split('/')) {
    if (raw === '') continue
    let seg: string
    try {
      seg = decodeURIComponent(raw)
    } catch {
      return { kind: 'refused' }
    }
    if (seg === '.' || seg === '..' || seg.startsWith('.') || /[/\\\0]/.test(seg)) return { kind: 'refused' }
    segments.push(seg)
  }
  const candidate = join(root, ...segments)
  const real = await realpath(candidate).catch(() => undefined)
  if (real === undefined) return { kind: 'none' }
  if (real !== root && !real.startsWith(root + sep)) return { kind: 'refused' }
  const st = await stat(real).catch(() => undefined)
  if (st === undefined) return { kind: 'none' }
  if (st.isDirectory()) {
    const index = join(real, 'index.html')
    const ist = await stat(index).catch(() => undefined)
    return ist?.isFile() ? { kind: 'file', path: index, size: ist.size } : { kind: 'dir' }
  }
  return st.isFile() ? { kind: 'file', path: real, size: st.size } : { kind: 'none' }
}

function sendFile(reply: FastifyReply, path: string, size: number): FastifyReply {
  return reply
    .header('content-length', size)
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-cache')
    .type(contentTypeOf(path))
    .send(createReadStream(path))
}

/**
 * A web app directory at `/` (p2p-webapp's `--dir`): files by path with their content types, a
 * directory by its index.html (never a listing), and for any other path a browser navigates to
 * (Accept: text/html) the app's index.html, so client-side routes load. The daemon's own routes
 * (RESERVED_PREFIXES) are registered beside it and win. Same token rules as the dashboard.
 */
export async function appHostingRoutes(app: FastifyInstance, opts: { token: string; dir: string }): Promise<void> {
  const root = await checkAppDir(opts.dir)
  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    const redirected = tokenRedirect(req, reply, opts.token)
    if (redirected) return redirected
    if (!authorized(req, opts.token)) return sendUnauthorized(req, reply)
    const pathname = new URL(req.url, 'http://x').pathname
    if (RESERVED_PREFIXES.some((p) => pathname === p || pathname.startsWith(`${p}/`)))
      return reply.code(404).type('text/plain; charset=utf-8').send('404: not found\n')
    const found = await resolvePath(root, pathname)
    if (found.kind === 'refused') return reply.code(404).type('text/plain; charset=utf-8').send('404: not found\n')
    if (found.kind === 'file') {
      // a directory's index.html is served at the address with a slash, so its relative links resolve
      if (!pathname.endsWith('/') && found.path.endsWith(`${sep}index.html`) && !pathname.endsWith('index.html')) {
        const url = new URL(req.url, 'http://x')
        return reply.redirect(`${url.pathname}/${url.search}`)
      }
      return sendFile(reply, found.path, found.size)
    }
    // single-page fallback: a navigation to a route of the app, not a missing script or image
    if ((req.headers.accept ?? '').includes('text/html')) {
      const index = join(root, 'index.html')
      const st = await stat(index).catch(() => undefined)
      if (st?.isFile()) return sendFile(reply, index, st.size)
    }
    return reply.code(404).type('text/plain; charset=utf-8').send('404: not found\n')
  }
  app.get('/', serve)
  app.get('/*', serve)
}
