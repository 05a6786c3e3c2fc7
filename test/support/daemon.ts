import { rm } from 'node:fs/promises'
import { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { type Config, defaultConfig } from '../../src/config.ts'
import { type Daemon, startDaemon } from '../../src/daemon.ts'
import { tempDir } from './temp-dir.ts'

export { tempDir }

/** Loopback-only settings for tests: no mDNS, ephemeral ports, short DHT timeout. */
export function testConfig(dataDir: string, overrides: Partial<Config> = {}): Config {
  return {
    ...defaultConfig(dataDir),
    host: '127.0.0.1',
    port: 0,
    portRangeEnd: 0,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    dhtBootstrapTimeoutMs: 2_000,
    logLevel: 'silent',
    ...overrides,
  }
}

export interface TestDaemon extends Daemon {
  dataDir: string
  wsUrl: string
  client(): Promise<SwitchboardClient>
  /** Close and delete the data directory. */
  destroy(): Promise<void>
}

/** The daemon's plain TCP address (not WebSockets, not through a relay), with its /p2p/ part. */
export function tcpAddrOf(d: Pick<Daemon, 'core'>): string {
  const addr = d.core.nodes.info('peer-a').addrs.find((a) => /\/tcp\/\d+\/p2p\/[^/]+$/.test(a))
  if (addr === undefined) throw new Error('no TCP address')
  return addr
}

/** An in-process daemon on 127.0.0.1 with its own temp data directory. */
export async function startTestDaemon(overrides: Partial<Config> = {}, dataDir?: string): Promise<TestDaemon> {
  const dir = dataDir ?? (await tempDir())
  const daemon = await startDaemon(testConfig(dir, overrides))
  const wsUrl = `${daemon.origin.replace(/^http/, 'ws')}/ws`
  const clients: SwitchboardClient[] = []
  return Object.assign(daemon, {
    dataDir: dir,
    wsUrl,
    async client() {
      const c = await SwitchboardClient.connect(wsUrl, { token: daemon.token })
      clients.push(c)
      return c
    },
    async destroy() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})))
      await daemon.close()
      if (dataDir === undefined) await rm(dir, { recursive: true, force: true })
    },
  })
}
