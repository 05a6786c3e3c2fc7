import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { type Browser, chromium } from 'playwright-core'
import { isAlive } from '../../src/p2p/data-dir.ts'

/** Where the browser came from, in the order it is looked for. */
export type ChromiumSource = 'CHROMIUM_PATH' | 'system' | 'npm'

export interface FoundChromium {
  executablePath: string
  source: ChromiumSource
  /** Environment the browser must run with (the npm build brings its own NSS, expat and fonts). */
  env: NodeJS.ProcessEnv
}

export interface FindOptions {
  env?: NodeJS.ProcessEnv
  /** Absolute paths tried before the PATH names; tests pass [] to reach the npm build. */
  systemPaths?: string[]
  /** Where the npm build is unpacked (default node_modules/.cache/switchboard-chromium). */
  cacheDir?: string
}

const SYSTEM_PATHS = ['/usr/bin/chromium']
const PATH_NAMES = ['chromium', 'chromium-browser', 'google-chrome']
const NPM_PACKAGE = '@sparticuz/chromium'
const STAGING_PREFIX = '.staging-'

/**
 * Flags the loopback-only tests need: no sandbox (root in CI), no GPU, and nothing that phones home
 * (QUIC, component updates, sync, background fetches), so a browser run touches 127.0.0.1 only.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Chromium from $CHROMIUM_PATH, else the system's, else the build the npm devDependency ships. */
export async function findChromium(options: FindOptions = {}): Promise<FoundChromium> {
  const env = options.env ?? process.env
  const chosen = env.CHROMIUM_PATH
  if (chosen !== undefined && chosen !== '') {
    // an explicit choice that is wrong is an error, not a reason to quietly run another browser
    if (!(await isExecutable(chosen))) throw new Error(`CHROMIUM_PATH=${chosen} is not an executable file`)
    return { executablePath: chosen, source: 'CHROMIUM_PATH', env }
  }
  const system = await findSystemChromium(options.systemPaths ?? SYSTEM_PATHS, env.PATH ?? '')
  if (system) return { executablePath: system, source: 'system', env }
  return npmChromium(env, options.cacheDir)
}

/** Launches the found Chromium headless; Playwright gives every launch a new empty profile directory. */
export async function launchChromium(options: FindOptions = {}): Promise<Browser> {
  const found = await findChromium(options)
  return chromium.launch({ executablePath: found.executablePath, args: CHROMIUM_ARGS, env: found.env })
}

async function findSystemChromium(paths: string[], searchPath: string): Promise<string | undefined> {
  const dirs = searchPath.split(delimiter).filter((d) => d !== '')
  const candidates = [...paths, ...PATH_NAMES.flatMap((name) => dirs.map((d) => join(d, name)))]
  for (const candidate of candidates) if (await isExecutable(candidate)) return candidate
  return undefined
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * The npm build ships brotli archives (~67 MB) that unpack to ~225 MB. They are unpacked once per
 * package version into the cache and reused by every later run and test file; other versions are
 * deleted, so the cache holds one build.
 */
async function npmChromium(env: NodeJS.ProcessEnv, cacheDir?: string): Promise<FoundChromium> {
  const entry = createRequire(import.meta.url).resolve(NPM_PACKAGE)
  const packageDir = dirname(dirname(entry))
  const { version } = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { version: string }
  const root = cacheDir ?? fileURLToPath(new URL('../../node_modules/.cache/switchboard-chromium', import.meta.url))
  const dir = join(root, version)
  if (!(await isExecutable(join(dir, 'chromium')))) await unpack(entry, join(packageDir, 'bin'), root, dir)
  return {
    executablePath: join(dir, 'chromium'),
    source: 'npm',
    env: {
      ...env,
      LD_LIBRARY_PATH: [join(dir, 'al2023', 'lib'), env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter),
      FONTCONFIG_FILE: join(dir, 'fonts.conf'),
    },
  }
}

/**
 * Unpacks into a staging directory, then renames it into place: a directory named after the version
 * is always complete, and test files unpacking at the same time cannot see each other's half-written
 * files (the loser of the rename discards its copy).
 */
async function unpack(entry: string, binDir: string, root: string, dir: string): Promise<void> {
  await mkdir(root, { recursive: true })
  await removeLeftovers(root)
  const staging = join(root, `${STAGING_PREFIX}${process.pid}-${Math.random().toString(36).slice(2)}`)
  await mkdir(staging)
  try {
    // the package unpacks into os.tmpdir(); a child process with its own TMPDIR points that at the
    // staging directory without changing this process's environment
    const script = [
      `const { default: chromium, inflate } = await import(${JSON.stringify(pathToFileURL(entry).href)})`,
      `await chromium.executablePath(${JSON.stringify(binDir)})`,
      // NSS, NSPR and expat, which a machine with nothing but Node lacks
      `await inflate(${JSON.stringify(join(binDir, 'al2023.tar.br'))})`,
    ].join('\n')
    await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: staging },
    })
    // the shipped fonts.conf names /tmp/fonts; this one names where the fonts are now
    const fontsConf = `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${join(dir, 'fonts')}</dir>\n  <cachedir>${join(dir, 'fonts-cache')}</cachedir>\n</fontconfig>\n`
    await writeFile(join(staging, 'fonts.conf'), fontsConf)
    try {
      await rename(staging, dir)
    } catch (err) {
      if (!(await isExecutable(join(dir, 'chromium')))) throw err
    }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
  await removeOtherVersions(root, dir)
}

/** Staging directories of processes that died while unpacking. */
async function removeLeftovers(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (!name.startsWith(STAGING_PREFIX)) continue
    const pid = Number(name.slice(STAGING_PREFIX.length).split('-')[0])
    if (!isAlive(pid)) await rm(join(root, name), { recursive: true, force: true })
  }
}

async function removeOtherVersions(root: string, keep: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (name.startsWith(STAGING_PREFIX) || join(root, name) === keep) continue
    await rm(join(root, name), { recursive: true, force: true })
  }
}
