import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EXIT } from '../../src/cli/exit-codes.ts'
import { parseCli, UsageError } from '../../src/cli/options.ts'
import { ConfigError, DEFAULT_LISTEN, resolveConfig } from '../../src/config.ts'
import { nodeListen } from '../../src/p2p/listen-ports.ts'
import { runCli } from '../support/process-daemon.ts'

describe('address options: fixed ports, announce, tls', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-addr-opts-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('flags, environment and config.json each set them; flags win', async () => {
    const cli = parseCli([
      'start',
      '--tcp-port',
      '4001',
      '--ws-port',
      '4002',
      '--webrtc-port',
      '4003',
      '--wss-port',
      '4443',
      '--announce',
      '/dns4/a.example/tcp/443/tls/ws',
      '--announce',
      '/ip4/203.0.113.1/tcp/4001',
      '--tls-cert',
      'c.pem',
      '--tls-key',
      'k.pem',
    ])
    expect(cli.flags).toMatchObject({
      tcpPort: 4001,
      wsPort: 4002,
      webrtcPort: 4003,
      wssPort: 4443,
      announce: ['/dns4/a.example/tcp/443/tls/ws', '/ip4/203.0.113.1/tcp/4001'],
      tls: { certFile: 'c.pem', keyFile: 'k.pem' },
    })
    const env = {
      SWITCHBOARD_TCP_PORT: '5001',
      SWITCHBOARD_WEBRTC_PORT: '5003',
      SWITCHBOARD_ANNOUNCE: '/ip4/203.0.113.2/tcp/5001, /ip4/203.0.113.2/udp/5003/webrtc-direct',
      SWITCHBOARD_TLS_CERT: '/etc/c.pem',
      SWITCHBOARD_TLS_KEY: '/etc/k.pem',
    }
    await writeFile(join(dir, 'config.json'), JSON.stringify({ wsPort: 6002, tcpPort: 6001, announce: ['/ip4/203.0.113.3/tcp/1'] }))
    const config = await resolveConfig({ dataDir: dir, tcpPort: 7001 }, env)
    expect(config).toMatchObject({
      tcpPort: 7001,
      wsPort: 6002,
      webrtcPort: 5003,
      announce: ['/ip4/203.0.113.2/tcp/5001', '/ip4/203.0.113.2/udp/5003/webrtc-direct'],
      tls: { certFile: '/etc/c.pem', keyFile: '/etc/k.pem' },
    })
    expect(nodeListen(config)).toEqual([
      '/ip4/0.0.0.0/tcp/7001',
      '/ip4/0.0.0.0/tcp/6002/ws',
      '/ip4/0.0.0.0/udp/5003/webrtc-direct',
      '/ip4/0.0.0.0/tcp/0/tls/ws',
    ])
    // no pinned port, no tls: the defaults as they are (ports chosen on first start, then kept)
    expect(nodeListen({ listen: DEFAULT_LISTEN })).toEqual([...DEFAULT_LISTEN])
  })

  it('bad values: usage errors for flags that do not parse, config errors naming the entry otherwise', async () => {
    expect(() => parseCli(['start', '--tcp-port', 'x'])).toThrow(UsageError)
    expect(() => parseCli(['start', '--ws-port', '70000'])).toThrow(/--ws-port "70000"/)
    expect(() => parseCli(['start', '--tls-cert', 'c.pem'])).toThrow(/--tls-cert and --tls-key go together/)
    const bad = async (flags: object, env: NodeJS.ProcessEnv = {}) => resolveConfig({ dataDir: dir, ...flags }, env)
    await expect(bad({ announce: ['/ip4/203.0.113.1/tcp/1', '/ip4/1.2.3.4/tcp/notaport'] })).rejects.toThrow(
      /invalid announce multiaddr "\/ip4\/1\.2\.3\.4\/tcp\/notaport" \(announce\[1\]\)/,
    )
    await expect(bad({ announce: ['/ip4/0.0.0.0/tcp/4001'] })).rejects.toThrow(/\(announce\[0\]\) has an unspecified host/)
    await expect(bad({ announce: ['/dns4/a.example'] })).rejects.toThrow(/\(announce\[0\]\) has no port/)
    await expect(bad({}, { SWITCHBOARD_ANNOUNCE: 'nonsense' })).rejects.toThrow(ConfigError)
    await expect(bad({}, { SWITCHBOARD_WEBRTC_PORT: 'abc' })).rejects.toThrow(/SWITCHBOARD_WEBRTC_PORT="abc"/)
    await expect(bad({}, { SWITCHBOARD_TLS_CERT: 'c.pem' })).rejects.toThrow(/SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY go together/)
    await expect(bad({ listen: ['/ip4/127.0.0.1/tcp/0/tls/ws'] })).rejects.toThrow(/secure WebSockets: give its certificate and key/)
    await writeFile(join(dir, 'config.json'), JSON.stringify({ tls: { certFile: 'c.pem' } }))
    await expect(bad({})).rejects.toThrow(/config\.json: \/tls\/keyFile/)
  })

  it('the daemon refuses a bad announce address with one line naming it and exit 3', async () => {
    const r = await runCli(['start', '--data-dir', dir, '--port', '0', '--no-mdns', '--announce', '/ip4/1.2.3.4/tcp/notaport'])
    expect(r.code).toBe(EXIT.config)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('"/ip4/1.2.3.4/tcp/notaport" (announce[0])')
  }, 60_000)
})
