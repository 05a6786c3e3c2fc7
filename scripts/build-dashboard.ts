/**
 * Bundles the dashboard (src/dashboard/main.ts: Preact + htm) for the browser with esbuild into
 * dist/public/dashboard.js and dashboard.css, which the daemon serves at /_switchboard/
 * (src/server/dashboard.ts). `npm run build` runs it; a daemon run from the sources (tsx) calls
 * buildDashboard({ write: false }) itself, so it serves the current sources.
 */
import { resolve } from 'node:path'
import { build } from 'esbuild'

const ROOT = resolve(import.meta.dirname, '..')

export interface BuiltFile {
  path: string
  text: string
}

export async function buildDashboard(opts: { write: boolean } = { write: true }): Promise<BuiltFile[]> {
  const out = await build({
    entryPoints: [resolve(ROOT, 'src', 'dashboard', 'main.ts')],
    outfile: resolve(ROOT, 'dist', 'public', 'dashboard.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: opts.write,
    write: opts.write,
    logLevel: 'warning',
  })
  return (out.outputFiles ?? []).map((f) => ({ path: f.path, text: f.text }))
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await buildDashboard()
  console.log(`dashboard -> ${resolve(ROOT, 'dist', 'public')}`)
}
