/**
 * Runs the daemon's bundle (dist/switchboard.cjs) through a V8 code cache kept beside it, so that a start
 * does not compile ~5 MB of JavaScript again: about a quarter of `switchboard start`'s time to its banner
 * (bench/dht-ready.ts). Node 20 has no compile cache for modules (module.enableCompileCache is Node 22's),
 * so the bundle is CommonJS, compiled here as a vm.Script with the cached data.
 *
 * The cache file: magic, the key it was made for (SHA-1 of the bundle's source, Node's version and
 * arch, the V8 flags), the SHA-1 of the data, the data. The data's own checks (V8 version, flags, source
 * length) are V8's; its checksum is not verified by release builds, hence ours. A cache that is missing,
 * for another key, torn or refused by V8 is ignored, and a new one is written when the process ends well.
 */
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import Module, { createRequire } from 'node:module'
import { dirname } from 'node:path'
import vm from 'node:vm'

const MAGIC = Buffer.from('SBV8CC1\n', 'latin1')
const DIGEST = 20
const HEADER = MAGIC.length + 2 * DIGEST

export type CacheState = 'used' | 'missing' | 'other key' | 'corrupt' | 'rejected'

export interface CompiledBundle {
  /** What became of the cache file: used, or why not. */
  readonly cache: CacheState
  /** Run the bundle as a CommonJS module; its module.exports. */
  run(): unknown
  /** Write the cache of what has been compiled so far (temp file, fsync, rename); false when it could not. */
  save(): boolean
}

const sha1 = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha1')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** What a cache must have been made for: this source, on this Node, with these flags. */
export const cacheKey = (source: string) => sha1(source, '\0', process.version, '\0', process.arch, '\0', process.execArgv.join(' '))

/** The bytes of a cache file holding `data` for `key`. */
export const cacheFileBytes = (key: Buffer, data: Buffer) => [MAGIC, key, sha1(data), data]

/** Compile `file` (a CommonJS bundle) with the cache in `cacheFile` when it is for this very source and runtime. */
export function compileBundle(file: string, cacheFile: string): CompiledBundle {
  const source = readFileSync(file, 'utf8')
  const key = cacheKey(source)
  let cachedData: Buffer | undefined
  let cache: CacheState = 'missing'
  try {
    const bytes = readFileSync(cacheFile)
    if (bytes.length < HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) cache = 'corrupt'
    else if (!bytes.subarray(MAGIC.length, MAGIC.length + DIGEST).equals(key)) cache = 'other key'
    else if (!sha1(bytes.subarray(HEADER)).equals(bytes.subarray(MAGIC.length + DIGEST, HEADER))) cache = 'corrupt'
    else cachedData = bytes.subarray(HEADER)
  } catch {
    // no cache (or unreadable): compiled from the source
  }
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData,
    // a dynamic import() in the bundle resolves as it would in a module loaded by require
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  if (cachedData !== undefined) cache = script.cachedDataRejected ? 'rejected' : 'used'
  return {
    cache,
    run() {
      const module = new Module(file)
      module.filename = file
      module.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file))
      const wrapper = script.runInThisContext() as (...args: unknown[]) => void
      wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file))
      module.loaded = true
      return module.exports
    },
    save() {
      const tmp = `${cacheFile}.${process.pid}.tmp`
      let fd: number
      try {
        fd = openSync(tmp, 'w', 0o644)
      } catch {
        return false // a read-only install: every start compiles, as without a cache
      }
      try {
        try {
          const data = script.createCachedData()
          for (const part of cacheFileBytes(key, data)) writeSync(fd, part)
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        renameSync(tmp, cacheFile)
        return true
      } catch {
        rmSync(tmp, { force: true })
        return false
      }
    },
  }
}

/** The cache file of a bundle for one kind of run: the daemon's (`start`) or a client command's (`cli`). */
export const cacheFileOf = (bundle: string, kind: 'start' | 'cli') => `${bundle.replace(/\.cjs$/, '')}.${kind}.v8cache`

/**
 * Run the bundle as the process's program, with the cache of its kind of run: `start` when the arguments name
 * it, else `cli` (the client commands compile other functions than the daemon; `switchboard` alone starts the
 * daemon with the client commands' cache, which only makes that cache less apt). Written at exit when it was
 * not used and the process ends with code 0. With --enable-source-maps, plain require() instead, so that Node
 * maps stack traces.
 */
export function runBundle(file: string, argv: readonly string[]): void {
  if (process.sourceMapsEnabled) {
    createRequire(file)(file)
    return
  }
  const bundle = compileBundle(file, cacheFileOf(file, argv.includes('start') ? 'start' : 'cli'))
  if (bundle.cache !== 'used') {
    process.once('exit', (code) => {
      if (code === 0) bundle.save()
    })
  }
  bundle.run()
}
