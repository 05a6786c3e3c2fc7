import '../src/shims.ts'
import { readdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { publish } from './machine.ts'

/**
 * Runs benchmarks in sequence: every bench/*.ts module that exports `run()`, or those named on the
 * command line (`npm run bench -- ws-rpc pubsub`). A bench prints and records its own figures (machine.ts
 * `publish`); one that only returns them may export `toMarkdown(result)` instead, and this runner publishes it.
 */

/** Modules in bench/ that are helpers, not benchmarks. */
const HELPERS = new Set(['run', 'machine'])
const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))

type BenchModule = { run?: () => Promise<unknown>; toMarkdown?: (result: never) => string }

async function benchNames(): Promise<string[]> {
  const files = await readdir(BENCH_DIR)
  return files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -'.ts'.length))
    .filter((name) => !HELPERS.has(name))
    .sort()
}

async function load(name: string): Promise<BenchModule> {
  return (await import(new URL(`./${name}.ts`, import.meta.url).href)) as BenchModule
}

async function main(args: string[]): Promise<number> {
  const available = await benchNames()
  const wanted = args.filter((a) => !a.startsWith('-'))
  const unknown = wanted.filter((name) => !available.includes(name))
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench ${unknown.join(', ')}; available: ${available.join(', ')}\n`)
    return 2
  }
  const names = wanted.length > 0 ? wanted : available
  let failed = 0
  for (const name of names) {
    const mod = await load(name)
    if (typeof mod.run !== 'function') {
      // a named module must be a bench; unnamed ones without run() are helpers someone added
      if (wanted.length > 0) {
        process.stderr.write(`bench/${name}.ts does not export run()\n`)
        failed += 1
      }
      continue
    }
    process.stdout.write(`\n# bench ${name}\n`)
    const started = performance.now()
    try {
      const result = await mod.run()
      if (typeof mod.toMarkdown === 'function') await publish(name, mod.toMarkdown(result as never))
      process.stdout.write(`# bench ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
    } catch (err) {
      failed += 1
      process.stderr.write(`# bench ${name} failed: ${(err as Error)?.stack ?? String(err)}\n`)
    }
  }
  return failed === 0 ? 0 : 1
}

// exit explicitly: libp2p and Helia leave timers behind after stopping
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(1)
  },
)
