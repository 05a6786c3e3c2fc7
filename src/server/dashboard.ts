import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendUnauthorized, tokenRedirect } from './app-hosting.ts'
import { PACKAGE_ROOT as ROOT } from '../package-root.ts'
import { authorized } from './auth.ts'

/** Where `npm run build:dashboard` writes the bundle (scripts/build-dashboard.ts). */
export const DASHBOARD_OUT = join(ROOT, 'dist', 'public')
export const DASHBOARD_ENTRY = join(ROOT, 'src', 'dashboard', 'main.ts')
/** The dashboard's own prefix: it lives here always, and also at / unless an app (--app) has /. */
export const DASHBOARD_PREFIX = '/_switchboard'

/**
 * The page shell: a phone-first single column, the bundle does the rest (src/dashboard, Preact + htm).
 * `#info` and `#actors` exist from the start so a reader (and the tests) can find them.
 */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Switchboard</title>
<link rel="stylesheet" href="${DASHBOARD_PREFIX}/dashboard.css">
</head><body>
<div id="root"><header><h1>Switchboard</h1><p id="info">connecting…</p></header></div>
<script type="module" src="${DASHBOARD_PREFIX}/dashboard.js"></script>
</body></html>
`
}

type Bundle = Map<string, { type: string; body: string | Buffer }>
let bundle: Promise<Bundle> | undefined

/**
 * From the build (dist/server): the files scripts/build-dashboard.ts wrote. From the sources (tsx:
 * tests, `node --import tsx src/cli/main.ts`): bundled once per process in memory with esbuild, so
 * what runs is always the current source.
 */
function loadBundle(): Promise<Bundle> {
  bundle ??= (async () => {
    const files: Bundle = new Map()
    if (import.meta.filename.endsWith('.ts')) {
      const { buildDashboard } = (await import(join(ROOT, 'scripts', 'build-dashboard.ts'))) as {
        buildDashboard: (opts: { write: false }) => Promise<{ path: string; text: string }[]>
      }
      for (const f of await buildDashboard({ write: false }))
        files.set(f.path.split('/').at(-1) as string, { type: typeOf(f.path), body: f.text })
      return files
    }
    for (const name of ['dashboard.js', 'dashboard.css', 'dashboard.js.map', 'dashboard.css.map']) {
      const body = await readFile(join(DASHBOARD_OUT, name)).catch(() => undefined)
      if (body !== undefined) files.set(name, { type: typeOf(name), body })
    }
    return files
  })()
  bundle.catch(() => {
    bundle = undefined
  })
  return bundle
}

function typeOf(path: string): string {
  if (path.endsWith('.css')) return 'text/css; charset=utf-8'
  if (path.endsWith('.map')) return 'application/json; charset=utf-8'
  return 'text/javascript; charset=utf-8'
}

/** The dashboard at /_switchboard/ (and / when `atRoot`), its bundle at /_switchboard/<file>; token-cookie rules. */
export async function dashboardRoutes(app: FastifyInstance, opts: { token: string; atRoot: boolean }): Promise<void> {
  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const redirected = tokenRedirect(req, reply, opts.token)
    if (redirected) return redirected
    if (!authorized(req, opts.token)) return sendUnauthorized(req, reply, new URL(req.url, 'http://x').pathname)
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(dashboardPage())
  }
  if (opts.atRoot) app.get('/', page)
  app.get(`${DASHBOARD_PREFIX}/`, page)
  app.get(DASHBOARD_PREFIX, async (req, reply) => reply.redirect(`${DASHBOARD_PREFIX}/${new URL(req.url, 'http://x').search}`))
  // the bundle holds no secret: served without the token, so the no-token page could use it too
  app.get(`${DASHBOARD_PREFIX}/:file`, async (req, reply) => {
    const { file } = req.params as { file: string }
    const f = (await loadBundle()).get(file)
    if (f === undefined) return reply.code(404).type('text/plain').send(`404: ${file} is not built: run npm run build\n`)
    return reply.type(f.type).header('cache-control', 'no-cache').send(f.body)
  })
}
