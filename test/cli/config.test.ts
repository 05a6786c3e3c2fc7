import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseCli, UsageError } from '../../src/cli/options.ts'
import { ConfigError, resolveConfig } from '../../src/config.ts'

describe('configuration: defaults < config.json < environment < flags', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-config-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('embedded defaults: 127.0.0.1:10000-10099, mDNS on, unknown peers allowed', async () => {
    const config = await resolveConfig({ dataDir: dir }, {})
    expect(config).toMatchObject({ dataDir: dir, host: '127.0.0.1', port: 10000, portRangeEnd: 10099, mdns: true, unknownPeers: 'allow' })
  })

  it('each source overrides the ones before it', async () => {
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ host: '127.0.0.2', logLevel: 'debug', dhtBootstrapTimeoutMs: 5000, port: 21000 }),
    )
    const env = { SWITCHBOARD_HOST: '127.0.0.3', SWITCHBOARD_LOG_LEVEL: 'error' }
    const config = await resolveConfig({ dataDir: dir, logLevel: 'silent' }, env)
    expect(config.dhtBootstrapTimeoutMs).toBe(5000) // file over default
    expect(config.host).toBe('127.0.0.3') // environment over file
    expect(config.logLevel).toBe('silent') // flag over environment
    expect(config.port).toBe(21000)
  })

  it('a port from any source brings its range of 100 unless the range end is set', async () => {
    expect(await resolveConfig({ dataDir: dir }, { SWITCHBOARD_PORT: '20000' })).toMatchObject({ port: 20000, portRangeEnd: 20099 })
    expect(await resolveConfig({ dataDir: dir, port: 65500 }, {})).toMatchObject({ port: 65500, portRangeEnd: 65535 })
    await writeFile(join(dir, 'config.json'), JSON.stringify({ port: 30000 }))
    expect(await resolveConfig({ dataDir: dir }, {})).toMatchObject({ port: 30000, portRangeEnd: 30099 })
    await writeFile(join(dir, 'config.json'), JSON.stringify({ portRangeEnd: 30005 }))
    expect(await resolveConfig({ dataDir: dir, port: 30000 }, {})).toMatchObject({ port: 30000, portRangeEnd: 30005 })
    await expect(resolveConfig({ dataDir: dir, port: 30010 }, {})).rejects.toThrow(/portRangeEnd 30005 is below port 30010/)
  })

  it('app (--app, SWITCHBOARD_APP, config.json): flag and environment relative to the working directory, the file to the data directory', async () => {
    expect((await resolveConfig({ dataDir: dir }, {})).app).toBeUndefined()
    expect(parseCli(['start', '--app', 'site']).flags.app).toBe('site')
    expect((await resolveConfig({ dataDir: dir, app: 'site' }, {})).app).toBe(join(process.cwd(), 'site'))
    expect((await resolveConfig({ dataDir: dir }, { SWITCHBOARD_APP: 'env-site' })).app).toBe(join(process.cwd(), 'env-site'))
    await writeFile(join(dir, 'config.json'), JSON.stringify({ app: 'www' }))
    expect((await resolveConfig({ dataDir: dir }, {})).app).toBe(join(dir, 'www'))
    expect((await resolveConfig({ dataDir: dir, app: '/srv/site' }, {})).app).toBe('/srv/site')
  })

  it('SWITCHBOARD_HOME is the data directory unless --data-dir is given', async () => {
    expect((await resolveConfig({}, { SWITCHBOARD_HOME: dir })).dataDir).toBe(dir)
  })

  it('a bad environment value names the variable', async () => {
    for (const [name, value] of [
      ['SWITCHBOARD_PORT', '80a'],
      ['SWITCHBOARD_PORT', '99999'],
      ['SWITCHBOARD_UNKNOWN_PEERS', 'sometimes'],
      ['SWITCHBOARD_LOG_LEVEL', 'chatty'],
    ] as const) {
      const err = await resolveConfig({ dataDir: dir }, { [name]: value }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toContain(name)
    }
  })

  it('bootstrap and listen addresses are checked', async () => {
    await expect(resolveConfig({ dataDir: dir, bootstrap: ['/ip4/127.0.0.1/tcp/1'] }, {})).rejects.toThrow(/bootstrap.*\/p2p\//)
    await expect(resolveConfig({ dataDir: dir, listen: ['not-a-multiaddr'] }, {})).rejects.toThrow(/listen/)
    await expect(resolveConfig({ dataDir: dir }, { SWITCHBOARD_BOOTSTRAP: '/ip4/127.0.0.1/tcp/1' })).rejects.toThrow(/bootstrap/)
  })
})

describe('parseCli', () => {
  it('maps flags to config fields; repeatable flags collect', () => {
    const { command, flags } = parseCli([
      'start',
      '--port',
      '12000',
      '--bootstrap',
      '/ip4/127.0.0.1/tcp/1/p2p/x',
      '--bootstrap',
      '/ip4/127.0.0.1/tcp/2/p2p/y',
      '--no-mdns',
      '--unknown-peers',
      'reject',
      '--allow-origin',
      'http://a.test',
      '--dht-timeout',
      '2500',
    ])
    expect(command).toBe('start')
    expect(flags).toEqual({
      port: 12000,
      bootstrap: ['/ip4/127.0.0.1/tcp/1/p2p/x', '/ip4/127.0.0.1/tcp/2/p2p/y'],
      mdns: false,
      unknownPeers: 'reject',
      allowedOrigins: ['http://a.test'],
      dhtBootstrapTimeoutMs: 2500,
    })
    expect(parseCli([]).command).toBe('start')
  })

  it('refuses what the schema refuses, naming the flag', () => {
    expect(() => parseCli(['--port', '65536'])).toThrow(UsageError)
    expect(() => parseCli(['--port', '65536'])).toThrow(/--port/)
    expect(() => parseCli(['--dht-timeout', '10'])).toThrow(/--dht-timeout/)
    expect(() => parseCli(['--host', ''])).toThrow(/--host/)
    expect(() => parseCli(['start', 'extra'])).toThrow(/extra/)
  })

  it('fileAccess: all by default; known from the flag, the environment or config.json; a bad value names its source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-config-'))
    try {
      expect((await resolveConfig({ dataDir: dir }, {})).fileAccess).toBe('all')
      expect(parseCli(['--file-access', 'known']).flags).toEqual({ fileAccess: 'known' })
      expect(() => parseCli(['--file-access', 'friends'])).toThrow(/--file-access expects all or known/)
      expect((await resolveConfig({ dataDir: dir }, { SWITCHBOARD_FILE_ACCESS: 'known' })).fileAccess).toBe('known')
      await expect(resolveConfig({ dataDir: dir }, { SWITCHBOARD_FILE_ACCESS: 'friends' })).rejects.toThrow(/SWITCHBOARD_FILE_ACCESS/)
      await writeFile(join(dir, 'config.json'), JSON.stringify({ fileAccess: 'known' }))
      expect((await resolveConfig({ dataDir: dir }, {})).fileAccess).toBe('known')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
