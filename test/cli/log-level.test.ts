import { describe, expect, it } from 'vitest'
import { startProcessDaemon } from '../support/process-daemon.ts'

describe('--log-level', () => {
  it('debug logs every actor state change; info its nodes and DHTs; silent logs none, only the banner', async () => {
    const debug = await startProcessDaemon({ args: ['--log-level', 'debug'] })
    const info = await startProcessDaemon({ args: ['--log-level', 'info'] })
    const silent = await startProcessDaemon({ args: ['--log-level', 'silent'] })
    try {
      // the supervisor is logged only at debug; node and DHT are logged from info up
      await expect.poll(() => debug.stdout(), { timeout: 30_000 }).toMatch(/ supervisor "running"/)
      expect(debug.stdout()).toMatch(/ node:peer-a "running"/)
      // info listens to the node: and dht: prefixes only (not every actor, whose views it would build)
      await expect.poll(() => info.stdout(), { timeout: 30_000 }).toMatch(/ node:peer-a "running"/)
      expect(info.stdout()).toMatch(/ dht:peer-a /)
      expect(info.stdout()).not.toMatch(/ supervisor "| peers:peer-a:| presence:peer-a /)
      // by the time the silent daemon answers a request, it would have logged its running node
      const c = await silent.client()
      await expect(c.call('node.info')).resolves.toMatchObject({ alias: 'peer-a' })
      expect(silent.stdout()).toContain('dashboard')
      expect(silent.stdout()).not.toMatch(/node:peer-a "running"|supervisor "running"/)
    } finally {
      await Promise.all([debug.destroy(), info.destroy(), silent.destroy()])
    }
  })
})
