import { describe, expect, it } from 'vitest'
import { lockDataDir } from '../../src/p2p/data-dir.ts'
import { tempDir } from '../support/daemon.ts'

describe('data directory lock', () => {
  it('refuses a second daemon of the same process, and is free again once released', async () => {
    const dir = await tempDir()
    const release = await lockDataDir(dir)
    await expect(lockDataDir(dir)).rejects.toMatchObject({ name: 'DataDirLockedError' })
    await release()
    const again = await lockDataDir(dir)
    await again()
  })
})
