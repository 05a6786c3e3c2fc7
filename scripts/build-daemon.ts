/**
 * Bundles the daemon and its CLI (src/cli/main.ts with every package it imports) into one file,
 * dist/switchboard.mjs, which bin/switchboard.js runs. Node then reads, resolves and compiles one
 * module instead of about 2,300: `switchboard start` prints its banner in a third of the time the
 * module graph of dist/ takes (bench/dht-ready.ts). `npm run build` runs it after tsc; the network lab
 * bundles the current sources the same way (test/lab/lab-daemon.ts).
 *
 * Kept outside the bundle: packages with native code, found from dist/ in node_modules as before.
 */
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'

const ROOT = resolve(import.meta.dirname, '..')

/** Loaded from node_modules at run time: native addons, which a bundle cannot hold. */
export const DAEMON_EXTERNAL = ['classic-level', 'node-datachannel']

export interface DaemonBundleOptions {
  /** The sources' root (default: this checkout); the lab bundles another revision's sources with it. */
  root?: string
  /** Default: dist/switchboard.mjs. */
  outfile?: string
  sourcemap?: boolean
}

export async function buildDaemon(opts: DaemonBundleOptions = {}): Promise<string> {
  const outfile = opts.outfile ?? resolve(ROOT, 'dist', 'switchboard.mjs')
  await build({
    entryPoints: [resolve(opts.root ?? ROOT, 'src', 'cli', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: DAEMON_EXTERNAL,
    // the CommonJS packages inside call require() for Node's built-ins and for the externals above
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    sourcemap: opts.sourcemap ?? true,
    sourcesContent: false,
    // class and function names stay as written, as they do unbundled: asn1js (the WebRTC certificate)
    // compares constructor.name with 'Sequence', and a class renamed to avoid a clash would fail it. It
    // costs a defineProperty per closure made on a hot path: 1-1.6% of a busy daemon's samples
    keepNames: true,
    logLevel: 'warning',
  })
  return outfile
}

const bundles = new Map<string, Promise<string>>()

/**
 * The current sources (or `root`'s) bundled once per process, for the lab and the benchmarks to start
 * daemons as `npm start` does without a build of the checkout: under node_modules/.cache (so that the
 * externals resolve and the package root is found above it), removed when the process exits.
 */
export function bundleForThisRun(label: string, root?: string): Promise<string> {
  const key = `${label}:${root ?? ''}`
  let bundle = bundles.get(key)
  if (bundle === undefined) {
    const dir = join(ROOT, 'node_modules', '.cache', `sb-${label}-${process.pid}-${bundles.size}`)
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    bundle = buildDaemon({ root, outfile: join(dir, 'switchboard.mjs'), sourcemap: false })
    bundles.set(key, bundle)
  }
  return bundle
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const t0 = performance.now()
  const out = await buildDaemon()
  console.log(`daemon -> ${out} (${Math.round(performance.now() - t0)} ms)`)
}
