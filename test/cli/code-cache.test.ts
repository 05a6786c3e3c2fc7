import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cacheFileBytes, cacheKey, compileBundle } from '../../src/cli/code-cache.ts'
import { tempDir } from '../support/temp-dir.ts'

/** A small CommonJS bundle that uses what the launcher hands it: module.exports, require, __filename, __dirname. */
const BUNDLE = `const { basename } = require('node:path')
let n = 0
for (let i = 0; i < 1000; i++) n += i
module.exports = { n, file: basename(__filename), dir: __dirname, version: 1 }
`

async function bundleDir(source = BUNDLE) {
  const dir = await tempDir('sb-code-cache-')
  const file = join(dir, 'bundle.cjs')
  writeFileSync(file, source)
  return { dir, file, cacheFile: join(dir, 'bundle.start.v8cache') }
}

// V8 may serve a second compile of a source from its in-memory cache without reading the data: that the data
// itself is taken is shown by test/cli/built-daemon.test.ts, across processes
describe('the launcher code cache (compileBundle)', () => {
  it('runs the bundle without a cache, saves one, and the next compile uses it and runs the same', async () => {
    const { dir, file, cacheFile } = await bundleDir()
    const first = compileBundle(file, cacheFile)
    expect(first.cache).toBe('missing')
    expect(first.run()).toEqual({ n: 499500, file: 'bundle.cjs', dir, version: 1 })
    expect(first.save()).toBe(true)
    const second = compileBundle(file, cacheFile)
    expect(second.cache).toBe('used')
    expect(second.run()).toEqual({ n: 499500, file: 'bundle.cjs', dir, version: 1 })
  })

  it('ignores a cache made for another source, even of the same length, and runs the new source', async () => {
    const { file, cacheFile } = await bundleDir()
    const first = compileBundle(file, cacheFile)
    first.run()
    first.save()
    // same length: V8's own check (the source's length) would take this cache for the new source
    writeFileSync(file, BUNDLE.replace('version: 1', 'version: 2'))
    const next = compileBundle(file, cacheFile)
    expect(next.cache).toBe('other key')
    expect(next.run()).toMatchObject({ version: 2 })
  })

  it('ignores a torn or truncated cache file (V8 does not check the data in release builds) and runs from the source', async () => {
    const { file, cacheFile } = await bundleDir()
    const first = compileBundle(file, cacheFile)
    first.run()
    first.save()
    const good = readFileSync(cacheFile)
    const flipped = Buffer.from(good)
    flipped[flipped.length - 10] = (flipped[flipped.length - 10] as number) ^ 0xff
    for (const bytes of [flipped, good.subarray(0, good.length - 100), good.subarray(0, 10), Buffer.from('not a cache')]) {
      writeFileSync(cacheFile, bytes)
      const c = compileBundle(file, cacheFile)
      expect(c.cache).toBe('corrupt')
      expect(c.run()).toMatchObject({ n: 499500, version: 1 })
    }
  })

  it('reports a cache that V8 refuses (right key and checksum, data not V8 code cache) and runs from the source', async () => {
    // a source this process has not compiled yet: V8 would take an earlier compile from memory and not read the data
    const source = BUNDLE.replace('version: 1', 'version: 3')
    const { file, cacheFile } = await bundleDir(source)
    writeFileSync(cacheFile, Buffer.concat(cacheFileBytes(cacheKey(source), Buffer.alloc(4096, 7))))
    const c = compileBundle(file, cacheFile)
    expect(c.cache).toBe('rejected')
    expect(c.run()).toMatchObject({ n: 499500, version: 3 })
  })

  it('save() answers false, without throwing, where the cache cannot be written', async () => {
    const { dir, file } = await bundleDir()
    const c = compileBundle(file, join(dir, 'no such dir', 'bundle.start.v8cache'))
    c.run()
    expect(c.save()).toBe(false)
  })
})
