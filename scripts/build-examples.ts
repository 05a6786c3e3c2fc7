/**
 * Bundles each page in examples/ (its main.ts) for the browser with esbuild, into
 * dist/examples/<name>/app.js, where the daemon serves it (src/server/examples.ts).
 * `npm run build` runs it; the browser tests call buildExamples() themselves, so they test the
 * current sources.
 */
import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'

const ROOT = resolve(import.meta.dirname, '..')

export interface BuiltExample {
  name: string
  outfile: string
  bytes: number
}

export async function buildExamples(root = ROOT): Promise<BuiltExample[]> {
  const dir = join(root, 'examples')
  const built: BuiltExample[] = []
  for (const name of (await readdir(dir)).sort()) {
    const entry = join(dir, name, 'main.ts')
    if (!(await stat(entry).catch(() => undefined))?.isFile()) continue
    const outfile = join(root, 'dist', 'examples', name, 'app.js')
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      sourcemap: true,
      logLevel: 'warning',
    })
    built.push({ name, outfile, bytes: (await stat(outfile)).size })
  }
  return built
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  for (const b of await buildExamples()) console.log(`examples/${b.name} -> ${b.outfile} (${(b.bytes / 1024).toFixed(0)} KiB)`)
}
