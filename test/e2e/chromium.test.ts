import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_ARGS, findChromium } from '../support/chromium.ts'
import { tempDir } from '../support/daemon.ts'

/** An executable file standing in for an installed browser: the finder only needs it to exist. */
async function executable(dir: string, name: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, '#!/bin/sh\nexit 0\n')
  await chmod(path, 0o755)
  return path
}

describe('finding Chromium for the browser tests', () => {
  let dir: string

  beforeAll(async () => {
    dir = await tempDir('sb-chromium-')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('CHROMIUM_PATH naming no executable is refused with an error naming it', async () => {
    await expect(findChromium({ env: { CHROMIUM_PATH: join(dir, 'absent') } })).rejects.toThrow(
      `CHROMIUM_PATH=${join(dir, 'absent')} is not an executable file`,
    )
  })

  it('CHROMIUM_PATH comes first, then the system paths, then the names on PATH', async () => {
    const chosen = await executable(dir, 'my-chrome')
    const system = await executable(dir, 'system-chromium')
    const bin = join(dir, 'bin')
    await mkdir(bin)
    const onPath = await executable(bin, 'chromium-browser')
    const first = await findChromium({ env: { CHROMIUM_PATH: chosen, PATH: bin }, systemPaths: [system] })
    expect(first).toMatchObject({ executablePath: chosen, source: 'CHROMIUM_PATH' })
    const second = await findChromium({ env: { PATH: bin }, systemPaths: [system] })
    expect(second).toMatchObject({ executablePath: system, source: 'system' })
    const third = await findChromium({ env: { PATH: bin }, systemPaths: [] })
    expect(third).toMatchObject({ executablePath: onPath, source: 'system' })
  })

  it('with no system Chromium, the npm build is unpacked once into the cache, reused, and runs', async () => {
    const cacheDir = join(dir, 'cache')
    await mkdir(join(cacheDir, '0.0.1'), { recursive: true })
    // a staging directory left by an unpacking process that died
    const dead = spawn(process.execPath, ['-e', ''])
    await once(dead, 'exit')
    await mkdir(join(cacheDir, `.staging-${dead.pid}-x`))
    const options = { env: { PATH: '' }, systemPaths: [], cacheDir }

    // two test files asking at once agree on one complete copy
    const [a, b] = await Promise.all([findChromium(options), findChromium(options)])
    expect(a.source).toBe('npm')
    expect(b.executablePath).toBe(a.executablePath)
    const unpacked = await stat(a.executablePath)
    expect(await readdir(cacheDir)).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+$/)])

    const again = await findChromium(options)
    expect(again.executablePath).toBe(a.executablePath)
    expect((await stat(again.executablePath)).ino).toBe(unpacked.ino)

    const browser = await chromium.launch({ executablePath: again.executablePath, args: CHROMIUM_ARGS, env: again.env })
    try {
      const page = await browser.newPage()
      await page.setContent('<p id="p">rendered</p>')
      expect(await page.locator('#p').textContent()).toBe('rendered')
    } finally {
      await browser.close()
    }
    // two unpackings of ~225 MB each on a loaded 2-core box: more room than the default minute
  }, 180_000)
})
