import 'reflect-metadata'
import '../../src/shims.ts'
import { X509Certificate } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { connect } from 'node:tls'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { BasicConstraintsExtension, SubjectAlternativeNameExtension, X509CertificateGenerator } from '@peculiar/x509'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocket as WsWebSocket } from 'ws'
import { EXIT } from '../../src/cli/exit-codes.ts'
import { createNode } from '../../src/p2p/node-factory.ts'
import { loadTlsCredentials } from '../../src/p2p/tls-files.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { freePorts, runCli, startProcessDaemon } from '../support/process-daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { useTempDir } from '../support/temp-dir.ts'

/** A self-signed certificate for 127.0.0.1 and its key, as PEM files in `dir`. */
async function selfSigned(dir: string, name: string): Promise<{ certFile: string; keyFile: string; cert: string; key: string }> {
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const now = Math.floor(Date.now() / 1000) * 1000
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=127.0.0.1',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      keys,
      extensions: [
        new BasicConstraintsExtension(true, undefined, true),
        new SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
      ],
    },
    crypto,
  )
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64')
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)?.join('\n')}\n-----END PRIVATE KEY-----\n`
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  await writeFile(certFile, cert.toString('pem'))
  await writeFile(keyFile, key)
  return { certFile, keyFile, cert: cert.toString('pem'), key }
}

/** The SHA-256 fingerprint of the certificate served on 127.0.0.1:port. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.destroy()
    })
    socket.once('error', reject)
  })
}

const realWebSocket = globalThis.WebSocket
afterEach(() => {
  globalThis.WebSocket = realWebSocket
})

/** Make libp2p's WebSockets dialler (the global WebSocket) trust `ca`, as a browser with that CA installed would. */
function trust(ca: string | undefined) {
  class Trusting extends WsWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, ca === undefined ? {} : { ca })
      this.on('error', () => {})
    }
  }
  globalThis.WebSocket = Trusting as unknown as typeof WebSocket
}

describe('secure WebSockets (/tls/ws) from a certificate and key the user provides', () => {
  const dir = useTempDir('sb-tls-')

  it('--tls-cert/--tls-key add a /tls/ws listener next to the defaults; a peer that trusts the certificate dials it, one that does not cannot', async () => {
    const { certFile, keyFile, cert } = await selfSigned(dir(), 'good')
    const daemon = await startProcessDaemon({ listen: LOOPBACK_DEFAULT_LISTEN, args: ['--tls-cert', certFile, '--tls-key', keyFile] })
    const trusting = await startRawNode()
    const stranger = await startRawNode()
    try {
      const wss = daemon.addrs.find((a) => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/tls\/ws\/p2p\//.test(a))
      expect(wss, daemon.addrs.join('\n')).toBeDefined()
      // the plain listeners are still there
      expect(daemon.addrs.some((a) => /\/tcp\/\d+\/ws\/p2p\//.test(a))).toBe(true)
      trust(undefined)
      await expect(stranger.libp2p.dial(multiaddr(wss as string), { signal: AbortSignal.timeout(10_000) })).rejects.toThrow()
      trust(cert)
      const conn = await trusting.libp2p.dial(multiaddr(wss as string))
      expect(conn.remotePeer.toString()).toBe(daemon.peerId)
      expect(conn.remoteAddr.toString()).toContain('/tls/ws')
    } finally {
      await Promise.all([trusting.stop(), stranger.stop()])
      await daemon.destroy()
    }
  }, 120_000)

  it('the /tls/ws port is kept across restarts, or pinned with --wss-port', async () => {
    const { certFile, keyFile } = await selfSigned(dir(), 'restart')
    const dataDir = join(dir(), 'restart-data')
    const args = ['--tls-cert', certFile, '--tls-key', keyFile]
    const wssOf = (addrs: string[]) => addrs.find((a) => a.includes('/tls/ws'))
    const first = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN, args })
    const before = wssOf(first.addrs)
    await first.stop()
    const second = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN, args })
    const after = wssOf(second.addrs)
    await second.stop()
    expect(after).toBe(before)
    const [port] = [await freePorts(1)]
    const pinned = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN, args: [...args, '--wss-port', String(port)] })
    await pinned.stop()
    expect(wssOf(pinned.addrs)).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/${port}/tls/ws/p2p/`))
  }, 120_000)

  it('a renewed certificate written over the files is served without a restart; a broken pair is refused and the old one kept', async () => {
    const first = await selfSigned(dir(), 'rotate')
    const second = await selfSigned(dir(), 'rotate-next')
    const third = await selfSigned(dir(), 'rotate-bad')
    const logs: string[] = []
    const node = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/tcp/0/tls/ws'],
      bootstrap: [],
      mdns: false,
      dhtProtocol: '/sb-test-tls/kad/1.0.0',
      allowPrivateAddresses: true,
      tls: await loadTlsCredentials(first),
      tlsWatchIntervalMs: 50,
      log: (m) => logs.push(m),
    })
    try {
      const addrs = () => node.libp2p.getMultiaddrs().map(String)
      const port = Number(/\/tcp\/(\d+)\/tls\/ws/.exec(addrs().find((a) => a.includes('/tls/ws')) ?? '')?.[1])
      const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256
      expect(await servedFingerprint(port)).toBe(fingerprint(first.cert))
      const before = addrs().sort()
      await writeFile(first.keyFile, second.key)
      await writeFile(first.certFile, second.cert)
      await vi.waitFor(async () => expect(await servedFingerprint(port)).toBe(fingerprint(second.cert)), { timeout: 15_000, interval: 100 })
      expect(logs.join('\n')).toContain(`tls: ${first.certFile} changed`)
      // the plain /ws listener stays plain: the addresses are the same
      expect(addrs().sort()).toEqual(before)
      // a certificate whose key is not in the key file: logged, the renewed one is still served
      await writeFile(first.certFile, third.cert)
      await vi.waitFor(() => expect(logs.join('\n')).toContain('still serving the previous certificate'), {
        timeout: 15_000,
        interval: 100,
      })
      expect(await servedFingerprint(port)).toBe(fingerprint(second.cert))
    } finally {
      await node.stop()
    }
  }, 60_000)

  it('a missing, unreadable or mismatched certificate or key: one line naming the file, exit 3, before anything listens', async () => {
    const good = await selfSigned(dir(), 'a')
    const other = await selfSigned(dir(), 'b')
    const garbage = join(dir(), 'garbage.pem')
    await writeFile(garbage, 'not a certificate\n')
    const missing = join(dir(), 'missing.pem')
    const cases: [string, string, string][] = [
      [missing, good.keyFile, `tls.certFile ${missing}: cannot read (no such file)`],
      [good.certFile, missing, `tls.keyFile ${missing}: cannot read (no such file)`],
      [garbage, good.keyFile, `tls.certFile ${garbage}: not a usable certificate`],
      [good.certFile, garbage, `tls.keyFile ${garbage}: not a usable private key`],
      [good.certFile, other.keyFile, `tls.keyFile ${other.keyFile}: the key does not belong to the certificate in ${good.certFile}`],
    ]
    for (const [i, [cert, key, message]] of cases.entries()) {
      const dataDir = join(dir(), `bad-${i}`)
      await mkdir(dataDir)
      const r = await runCli(['start', '--data-dir', dataDir, '--port', '0', '--no-mdns', '--tls-cert', cert, '--tls-key', key])
      expect(r.code, r.stderr).toBe(EXIT.config)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toContain(message)
      expect(r.stdout).not.toContain('dashboard')
    }
  }, 180_000)
})
