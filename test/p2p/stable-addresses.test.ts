import { createSocket } from 'node:dgram'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it, vi } from 'vitest'
import { ListenPorts, listenKind } from '../../src/p2p/listen-ports.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { closeServer, freePorts, occupyPort, startProcessDaemon } from '../support/process-daemon.ts'
import { startRawNode } from '../support/raw-node.ts'
import { useTempDir } from '../support/temp-dir.ts'

/** The daemon's addresses of each default kind (TCP, WebSockets, WebRTC-direct), without the peer id. */
function byKind(addrs: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const a of addrs) {
    const bare = a.replace(/\/p2p\/[^/]+$/, '')
    const kind = listenKind(bare)
    if (kind !== undefined && out[kind] === undefined) out[kind] = bare
  }
  return out
}
const portOf = (addr: string | undefined) => Number(/\/(?:tcp|udp)\/(\d+)/.exec(addr ?? '')?.[1])

/** A UDP port on 127.0.0.1 that was free a moment ago. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const { port } = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

describe('stable addresses of a daemon started as users start it (every default listener, ports not given)', () => {
  const dir = useTempDir('sb-stable-')

  it('keeps every address, the WebRTC-direct certhash and UDP port included, across a restart; the saved address still dials', async () => {
    const dataDir = join(dir(), 'restart')
    const first = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN })
    const before = byKind(first.addrs)
    await first.stop()
    expect(Object.keys(before).sort()).toEqual(['tcp', 'webrtc-direct', 'ws'])
    expect(before['webrtc-direct']).toMatch(/^\/ip4\/127\.0\.0\.1\/udp\/\d+\/webrtc-direct\/certhash\/uEi/)
    const second = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN })
    const raw = await startRawNode()
    try {
      expect(byKind(second.addrs)).toEqual(before)
      const conn = await raw.libp2p.dial(multiaddr(`${before['webrtc-direct']}/p2p/${first.peerId}`))
      expect(conn.remotePeer.toString()).toBe(second.peerId)
    } finally {
      await raw.stop()
      await second.stop()
    }
  }, 120_000)

  it('a remembered port that is taken is given up for a new one with a warning naming it; the others stay', async () => {
    const dataDir = join(dir(), 'taken')
    const first = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN })
    const before = byKind(first.addrs)
    await first.stop()
    const tcpPort = portOf(before.tcp)
    const squatter = await occupyPort(tcpPort)
    try {
      const second = await startProcessDaemon({ dataDir, listen: LOOPBACK_DEFAULT_LISTEN })
      const after = byKind(second.addrs)
      await second.stop()
      expect(portOf(after.tcp)).not.toBe(tcpPort)
      expect(after.ws).toBe(before.ws)
      expect(after['webrtc-direct']).toBe(before['webrtc-direct'])
      expect(second.stderr()).toContain(`listen address /ip4/127.0.0.1/tcp/0: port ${tcpPort} (TCP) used last time is taken`)
    } finally {
      await closeServer(squatter)
    }
  }, 120_000)

  it('--tcp-port, --ws-port and --webrtc-port pin the default listeners; SWITCHBOARD_*_PORT do the same', async () => {
    const tcp = await freePorts(2)
    const udp = await freeUdpPort()
    const flagged = await startProcessDaemon({
      listen: LOOPBACK_DEFAULT_LISTEN,
      args: ['--tcp-port', String(tcp), '--ws-port', String(tcp + 1), '--webrtc-port', String(udp)],
    })
    const fromFlags = byKind(flagged.addrs)
    await flagged.destroy()
    expect(fromFlags.tcp).toBe(`/ip4/127.0.0.1/tcp/${tcp}`)
    expect(fromFlags.ws).toBe(`/ip4/127.0.0.1/tcp/${tcp + 1}/ws`)
    expect(fromFlags['webrtc-direct']).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/udp/${udp}/webrtc-direct/certhash/`))

    const fromEnv = await startProcessDaemon({
      listen: LOOPBACK_DEFAULT_LISTEN,
      env: { SWITCHBOARD_TCP_PORT: String(tcp), SWITCHBOARD_WS_PORT: String(tcp + 1), SWITCHBOARD_WEBRTC_PORT: String(udp) },
    })
    const env = byKind(fromEnv.addrs)
    await fromEnv.destroy()
    expect(portOf(env.tcp)).toBe(tcp)
    expect(portOf(env.ws)).toBe(tcp + 1)
    expect(portOf(env['webrtc-direct'])).toBe(udp)
  }, 120_000)

  it('announce: the daemon advertises exactly those addresses (node.info, banner, identify), WebRTC-direct ones get the certhash', async () => {
    const announce = ['/dns4/switchboard.example/tcp/443/tls/ws', '/ip4/203.0.113.7/udp/4001/webrtc-direct', '/ip4/203.0.113.7/tcp/4001']
    const tcp = await freePorts(1)
    const daemon = await startProcessDaemon({
      listen: LOOPBACK_DEFAULT_LISTEN,
      args: ['--tcp-port', String(tcp), ...announce.flatMap((a) => ['--announce', a])],
    })
    const raw = await startRawNode()
    try {
      const client = await daemon.client()
      const info = (await client.call('node.info', {})) as { addrs: string[]; peerid: string }
      const certhash = /\/certhash\/([^/]+)/.exec(info.addrs.find((a) => a.includes('webrtc-direct')) ?? '')?.[1]
      expect(certhash).toMatch(/^uEi/)
      const expected = [announce[0], `${announce[1]}/certhash/${certhash}`, announce[2]].map((a) => `${a}/p2p/${info.peerid}`)
      expect([...info.addrs].sort()).toEqual([...expected].sort())
      expect([...daemon.addrs].sort()).toEqual([...expected].sort())
      // what a peer learns over identify: the announced addresses, not the listeners on loopback
      await raw.libp2p.dial(multiaddr(`/ip4/127.0.0.1/tcp/${tcp}/p2p/${info.peerid}`))
      await vi.waitFor(
        async () => {
          const peer = await raw.libp2p.peerStore.get(peerIdFromString(info.peerid))
          const addrs = peer.addresses.map((a) => a.multiaddr.toString())
          expect(addrs).toEqual(expect.arrayContaining(expected.map((a) => a.replace(/\/p2p\/[^/]+$/, ''))))
          expect(addrs.filter((a) => a.includes('/ws') && a.includes('127.0.0.1'))).toEqual([])
        },
        { timeout: 10_000, interval: 50 },
      )
    } finally {
      await raw.stop()
      await daemon.destroy()
    }
  }, 120_000)
})

describe('remembered listen ports', () => {
  const dir = useTempDir('sb-ports-')

  it('a listener whose remembered port is taken gets a fresh port that no other listener is about to take back', async () => {
    const listen = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/udp/0/webrtc-direct']
    const file = join(dir(), 'listen-ports.json')
    const tcp = await freePorts(2)
    const ws = tcp + 1
    const udp = await freeUdpPort()
    const first = await ListenPorts.load(file)
    await first.remember(listen, [`/ip4/127.0.0.1/tcp/${tcp}`, `/ip4/127.0.0.1/tcp/${ws}/ws`, `/ip4/127.0.0.1/udp/${udp}/webrtc-direct`])
    const squatter = await occupyPort(tcp)
    try {
      const warnings: string[] = []
      const chosen = await (await ListenPorts.load(file, (m) => warnings.push(m))).choose(listen)
      expect(chosen[1]).toBe(`/ip4/127.0.0.1/tcp/${ws}/ws`)
      expect(chosen[2]).toBe(`/ip4/127.0.0.1/udp/${udp}/webrtc-direct`)
      // not port 0: the OS could give the WebSocket listener's port to the TCP one before it is taken back
      const fresh = Number(chosen[0]?.split('/')[4])
      expect(fresh).toBeGreaterThan(0)
      expect([tcp, ws]).not.toContain(fresh)
      expect(warnings).toEqual([expect.stringContaining(`port ${tcp} (TCP) used last time is taken`)])
    } finally {
      await closeServer(squatter)
    }
  })
})
