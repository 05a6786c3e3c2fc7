import '../../src/shims.ts'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it, vi } from 'vitest'
import { createNode } from '../../src/p2p/node-factory.ts'
import { expiresAt, loadOrCreateWebRTCCertificate } from '../../src/p2p/webrtc-certificate.ts'
import { startRawNode } from '../support/raw-node.ts'
import { useTempDir } from '../support/temp-dir.ts'

const YEAR = 365 * 86_400_000
const certhashOf = (addr: string | undefined) => /\/certhash\/([^/]+)/.exec(addr ?? '')?.[1]

describe('the WebRTC-direct certificate of a running node', () => {
  const dir = useTempDir('sb-renew-')

  it('is renewed before it expires without a restart: same key, new certhash announced to connected peers, new address dials', async () => {
    const storageDir = join(dir(), 'node')
    const certPath = join(storageDir, 'webrtc-direct-certificate.json')
    await mkdir(storageDir, { recursive: true })
    // a stored certificate with 5 s left; the node renews 3 s before expiry, for a year
    const stored = await loadOrCreateWebRTCCertificate(certPath, { lifespanMs: 5_000 })
    const logs: string[] = []
    const node = await createNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/webrtc-direct'],
      bootstrap: [],
      mdns: false,
      dhtProtocol: '/sb-test-renew/kad/1.0.0',
      allowPrivateAddresses: true,
      storageDir,
      log: (m) => logs.push(m),
      webrtcCertificate: { lifespanMs: YEAR, renewBeforeMs: 3_000 },
    })
    const watcher = await startRawNode()
    const fresh = await startRawNode()
    const stale = await startRawNode()
    try {
      const webrtcAddr = () =>
        node.libp2p
          .getMultiaddrs()
          .map(String)
          .find((a) => a.includes('/webrtc-direct/'))
      const before = webrtcAddr()
      expect(certhashOf(before)).toBe(stored.certhash)
      // a connected peer hears about the new address through identify push
      const tcp = node.libp2p.getMultiaddrs().find((a) => a.toString().includes('/tcp/') && !a.toString().includes('/ws'))
      await watcher.libp2p.dial(tcp as never)

      await vi.waitFor(() => expect(certhashOf(webrtcAddr())).not.toBe(stored.certhash), { timeout: 15_000, interval: 100 })
      const after = webrtcAddr() as string
      // the listener kept its port: only the certhash changed
      expect(after.replace(/\/certhash\/[^/]+/, '')).toBe(before?.replace(/\/certhash\/[^/]+/, ''))
      const renewed = JSON.parse(await readFile(certPath, 'utf8')).data
      expect(renewed.privateKey).toBe(stored.privateKey)
      expect(renewed.pem).not.toBe(stored.pem)
      expect(expiresAt(renewed)).toBeGreaterThan(Date.now() + YEAR / 2)
      expect(logs.join('\n')).toMatch(/renewed \(same key\); new certhash/)

      await vi.waitFor(
        async () => {
          const peer = await watcher.libp2p.peerStore.get(node.libp2p.peerId)
          expect(peer.addresses.map((a) => a.multiaddr.toString()).some((a) => a.includes(`/certhash/${certhashOf(after)}`))).toBe(true)
        },
        { timeout: 10_000, interval: 100 },
      )

      // new connections get the renewed certificate: the new address dials, the old one no longer does
      const conn = await fresh.libp2p.dial(multiaddr(after))
      expect(conn.remotePeer.equals(node.libp2p.peerId)).toBe(true)
      await expect(stale.libp2p.dial(multiaddr(before as string), { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
      // and a node started later from the same directory keeps using the renewed one
    } finally {
      await Promise.all([watcher.stop(), fresh.stop(), stale.stop()])
      await node.stop()
    }
    const again = await loadOrCreateWebRTCCertificate(certPath)
    expect(again.privateKey).toBe(stored.privateKey)
  }, 60_000)
})
