import { describe, expect, it } from 'vitest'
import { startProcessDaemon } from '../support/process-daemon.ts'

describe('--log-level', () => {
  it('debug logs every actor state change; silent logs none, only the banner', async () => {
    const debug = await startProcessDaemon({ args: ['--log-level', 'debug'] })
    const silent = await startProcessDaemon({ args: ['--log-level', 'silent'] })
    try {
      // the supervisor is logged only at debug; node and DHT are logged from info up
      await expect.poll(() => debug.stdout(), { timeout: 30_000 }).toMatch(/ supervisor "running"/)
      expect(debug.stdout()).toMatch(/ node:peer-a "running"/)
      // by the time the silent daemon answers a request, it would have logged its running node
      const c = await silent.client()
      await expect(c.call('node.info')).resolves.toMatchObject({ alias: 'peer-a' })
      expect(silent.stdout()).toContain('dashboard')
      expect(silent.stdout()).not.toMatch(/node:peer-a "running"|supervisor "running"/)
    } finally {
      await Promise.all([debug.destroy(), silent.destroy()])
    }
  })
})
