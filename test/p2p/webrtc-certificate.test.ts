import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSocket } from 'node:dgram'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { loadOrCreateWebRTCCertificate } from '../../src/p2p/webrtc-certificate.ts'
import { startProcessDaemon } from '../support/process-daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { useTempDir } from '../support/temp-dir.ts'

const DAY = 86_400_000

/** A UDP port on 127.0.0.1 that was free a moment ago. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

describe('the WebRTC-direct certificate of a persistent node', () => {
  const dir = useTempDir('sb-cert-')

  it('is made once and loaded after that: the certhash stays the same', async () => {
    const path = join(dir(), 'same.json')
    const first = await loadOrCreateWebRTCCertificate(path)
    const second = await loadOrCreateWebRTCCertificate(path)
    expect(second).toEqual(first)
    expect(first.certhash).toMatch(/^uEi[A-Za-z0-9_-]{44}$/)
    expect(first.pem).toContain('BEGIN CERTIFICATE')
  })

  it('is renewed when it expires within the renewal window', async () => {
    const path = join(dir(), 'expiring.json')
    const old = await loadOrCreateWebRTCCertificate(path, { lifespanMs: 10 * DAY })
    const logs: string[] = []
    const renewed = await loadOrCreateWebRTCCertificate(path, { renewBeforeMs: 30 * DAY, log: (m) => logs.push(m) })
    expect(renewed.certhash).not.toBe(old.certhash)
    expect(logs.join('\n')).toMatch(/renewing/)
    expect(await loadOrCreateWebRTCCertificate(path)).toEqual(renewed)
  })

  it('a corrupt file is moved aside with a warning naming it, and a new certificate takes its place', async () => {
    const path = join(dir(), 'corrupt.json')
    const good = await loadOrCreateWebRTCCertificate(path)
    const stored = JSON.parse(await readFile(path, 'utf8'))
    // the private key of another certificate: the pair no longer belongs together
    const other = await loadOrCreateWebRTCCertificate(join(dir(), 'other.json'))
    stored.data.privateKey = other.privateKey
    await writeFile(path, JSON.stringify(stored))
    const logs: string[] = []
    const fresh = await loadOrCreateWebRTCCertificate(path, { log: (m) => logs.push(m) })
    expect(fresh.certhash).not.toBe(good.certhash)
    expect(logs.join('\n')).toContain(path)
    expect((await readdir(dir())).some((f) => f.startsWith('corrupt.json.corrupt-'))).toBe(true)
  })

  it('a daemon on a fixed UDP port keeps its WebRTC-direct address across restarts, and the old address still dials', async () => {
    const dataDir = join(dir(), 'daemon')
    const port = await freeUdpPort()
    const listen = ['/ip4/127.0.0.1/tcp/0', `/ip4/127.0.0.1/udp/${port}/webrtc-direct`]
    const webrtcAddr = (addrs: string[]) => addrs.find((a) => a.includes('/webrtc-direct/'))
    const first = await startProcessDaemon({ dataDir, listen })
    const before = webrtcAddr(first.addrs)
    await first.stop()
    const second = await startProcessDaemon({ dataDir, listen })
    const raw = await startRawNode()
    try {
      expect(before).toContain(`/udp/${port}/webrtc-direct/certhash/`)
      expect(webrtcAddr(second.addrs)).toBe(before)
      // the certhash in the saved address is the certificate the restarted daemon really uses
      const conn = await raw.libp2p.dial(multiaddr(before as string))
      expect(conn.remotePeer.toString()).toBe(second.peerId)
      expect(conn.remoteAddr.toString()).toContain('/webrtc-direct')
    } finally {
      await raw.stop()
      await second.stop()
    }
  })
})
