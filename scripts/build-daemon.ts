/**
 * Bundles the daemon and its CLI (src/cli/main.ts with every package it imports) into one CommonJS file,
 * dist/switchboard.cjs, and its launcher (src/cli/launch.ts) into dist/switchboard.mjs, which
 * bin/switchboard.js runs. Node then reads and compiles one file instead of about 2,300 modules, and
 * from the second run on not even that: the launcher keeps a V8 code cache of the bundle beside it
 * (src/cli/code-cache.ts). `npm run build` runs it after tsc; the network lab, the benchmarks and the
 * tests that start daemons in their own processes bundle the current sources the same way.
 *
 * Kept outside the bundle: packages with native code, found from dist/ in node_modules as before.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { build } from 'esbuild'
import { envWithoutSwitchboard } from '../src/config.ts'

const ROOT = resolve(import.meta.dirname, '..')

/** Loaded from node_modules at run time: native addons, which a bundle cannot hold. */
export const DAEMON_EXTERNAL = ['classic-level', 'node-datachannel']

export interface DaemonBundleOptions {
  /** The sources' root (default: this checkout); the lab bundles another revision's sources with it. */
  root?: string
  /** The launcher, what `node` runs (default: dist/switchboard.mjs); the bundle is written beside it as switchboard.cjs. */
  outfile?: string
  sourcemap?: boolean
}

/** The bundle a launcher runs: switchboard.cjs beside it (src/cli/launch.ts looks for it there). */
export const bundleBeside = (launcher: string) => join(dirname(launcher), 'switchboard.cjs')

export async function buildDaemon(opts: DaemonBundleOptions = {}): Promise<string> {
  const outfile = opts.outfile ?? resolve(ROOT, 'dist', 'switchboard.mjs')
  const src = resolve(opts.root ?? ROOT, 'src')
  const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' } as const
  await build({
    ...common,
    entryPoints: [join(src, 'cli', 'main.ts')],
    outfile: bundleBeside(outfile),
    // CommonJS, for the code cache (a vm.Script); strict, as the ES modules it is made of are
    format: 'cjs',
    external: DAEMON_EXTERNAL,
    banner: { js: "'use strict'; const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__importMetaUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename' },
    sourcemap: opts.sourcemap ?? true,
    sourcesContent: false,
    // class and function names stay as written, as they do unbundled: asn1js (the WebRTC certificate)
    // compares constructor.name with 'Sequence', and a class renamed to avoid a clash would fail it. It
    // costs a defineProperty per closure made on a hot path: 1-1.6% of a busy daemon's samples
    keepNames: true,
    minifyWhitespace: true,
    legalComments: 'external',
  })
  // this checkout's launcher, whatever `root` is: it runs any revision's bundle
  await build({ ...common, entryPoints: [join(ROOT, 'src', 'cli', 'launch.ts')], outfile, format: 'esm' })
  return outfile
}

const bundles = new Map<string, Promise<string>>()

/**
 * The current sources (or `root`'s) bundled once per process, for the lab, the benchmarks and the tests to
 * start daemons as `npm start` does without a build of the checkout: under node_modules/.cache (so that the
 * externals resolve and the package root is found above it), removed when the process exits. Its code cache
 * is warmed (warmCodeCache), so their daemons start as a user's do after the first.
 */
export function bundleForThisRun(label: string, root?: string): Promise<string> {
  const key = `${label}:${root ?? ''}`
  let bundle = bundles.get(key)
  if (bundle === undefined) {
    const dir = join(ROOT, 'node_modules', '.cache', `sb-${label}-${process.pid}-${bundles.size}`)
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    bundle = buildDaemon({ root, outfile: join(dir, 'switchboard.mjs'), sourcemap: false }).then(async (launcher) => {
      await warmCodeCache(launcher)
      return launcher
    })
    bundles.set(key, bundle)
  }
  return bundle
}

/**
 * Start the daemon of `launcher` once and stop it (SIGTERM), so that the launcher writes the code cache of a
 * start (src/cli/code-cache.ts): what a user's daemon has after its first stop. The default listeners but
 * mDNS, a new data directory, any HTTP port. Best effort: without it, each daemon compiles the bundle.
 */
export async function warmCodeCache(launcher: string): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'sb-warm-'))
  const env = envWithoutSwitchboard()
  const child = spawn(process.execPath, [launcher, 'start', '--data-dir', home, '--port', '0', '--no-mdns'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)))
  const started = new Promise<boolean>((done) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('websocket ')) done(true)
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    void exited.then(() => done(false))
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  try {
    if (await started) child.kill('SIGTERM')
    const code = await exited
    if (code !== 0) process.stderr.write(`code cache warm-up of ${launcher}: the daemon exited with ${code}\n${out}\n`)
  } finally {
    clearTimeout(timer)
    rmSync(home, { recursive: true, force: true })
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const t0 = performance.now()
  const out = await buildDaemon()
  console.log(`daemon -> ${out} (${Math.round(performance.now() - t0)} ms)`)
}
