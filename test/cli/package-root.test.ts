import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE_ROOT, packageRootOf } from '../../src/package-root.ts'
import { VERSION } from '../../src/version.ts'

describe('the package root (found the same from src/, dist/ and the bundle)', () => {
  it('is the checkout, and the version is its package.json', async () => {
    expect(PACKAGE_ROOT).toBe(resolve(import.meta.dirname, '..', '..'))
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('is the nearest directory holding package.json, however deep the module sits', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sb-root-'))
    try {
      await writeFile(join(root, 'package.json'), '{}')
      await mkdir(join(root, 'dist', 'server'), { recursive: true })
      expect(packageRootOf(join(root, 'dist', 'server'))).toBe(root)
      expect(packageRootOf(join(root, 'dist'))).toBe(root)
      expect(packageRootOf(root)).toBe(root)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })

  it('says so when there is none', () => {
    expect(() => packageRootOf('/proc/self')).toThrow(/no package.json above \/proc\/self/)
  })
})
