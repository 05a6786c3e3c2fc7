import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

/**
 * A raw baseline's script (a file in bench/support), compiled once per run into node_modules/.cache
 * (so its packages resolve from node_modules) and run by plain Node, as a js-libp2p app runs: no
 * tsx loader in the process being measured. Removed when the run exits.
 */
export function compiledOnce(script: string, label: string): () => Promise<string> {
  let compiled: Promise<string> | undefined
  return () => {
    compiled ??= (async () => {
      const dir = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', `sb-bench-${label}-${process.pid}`)
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
      const outfile = join(dir, script.replace(/\.ts$/, '.mjs'))
      await build({
        entryPoints: [join(import.meta.dirname, script)],
        outfile,
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'warning',
      })
      return outfile
    })()
    return compiled
  }
}
