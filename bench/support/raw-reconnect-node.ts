/**
 * The plain-library side of bench/reconnect.ts as its own program: a js-libp2p node (createLibp2p) with
 * the transports, encrypter, muxer and services a daemon runs on its defaults (raw-daemon-like-node.ts),
 * libp2p's reconnect queue held.
 * reconnect.ts compiles it to JavaScript once per run and runs it with plain Node.
 *
 * `peer`: listens on 127.0.0.1 TCP only (so every hub dials the same address) and prints
 * `peer <peerId> <tcp multiaddr>`. Both hubs dial such peers.
 * `hub <peer multiaddr>...`: listens as a daemon does by default (0.0.0.0: TCP, WebSockets,
 * WebRTC-direct), prints `hub <peerId>`, then takes commands on stdin, one a line:
 * `dial` dials every peer at once and prints `up <ms to all dials resolved> <ms to all identified>`
 * once each connection's identify has finished (`fail <count> <errors as JSON>` when a dial failed); `hangup` hangs up on every peer and prints `down`.
 * Both stop on SIGTERM.
 */
// the Node 20 shims first, before any libp2p module loads (design.md)
import '../../src/shims.ts'
import { createInterface } from 'node:readline'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { DAEMON_LISTEN, startDaemonLikeNode } from './raw-daemon-like-node.ts'

const [mode = 'peer', ...peerAddrs] = process.argv.slice(2)

const node = await startDaemonLikeNode({ listen: mode === 'hub' ? DAEMON_LISTEN : ['/ip4/127.0.0.1/tcp/0'] })
process.once('SIGTERM', () => void Promise.resolve(node.stop()).finally(() => process.exit(0)))

if (mode === 'peer') {
  const tcpAddr = node.getMultiaddrs().find((a) => a.toString().includes('/tcp/') && !a.toString().includes('/ws'))
  process.stdout.write(`peer ${node.peerId} ${tcpAddr?.toString()}\n`)
} else {
  const peers: Multiaddr[] = peerAddrs.map((a) => multiaddr(a))
  const ids = peers.map((a) => a.getComponents().findLast((c) => c.name === 'p2p')?.value ?? '')
  process.stdout.write(`hub ${node.peerId}\n`)
  const commands = createInterface({ input: process.stdin })
  for await (const command of commands) {
    if (command === 'hangup') {
      await Promise.all(peers.map((addr) => node.hangUp(addr)))
      process.stdout.write('down\n')
    } else if (command === 'dial') {
      const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()))
      // a peer already connected (the warm-up's second try) is identified already
      const waiting = new Set(ids.filter((id) => !connected.has(id)))
      let identified!: () => void
      const allIdentified = new Promise<void>((resolve) => (identified = resolve))
      const onIdentify = (evt: CustomEvent<{ peerId: { toString(): string } }>) => {
        waiting.delete(evt.detail.peerId.toString())
        if (waiting.size === 0) identified()
      }
      node.addEventListener('peer:identify', onIdentify as never)
      const t0 = performance.now()
      const dials = await Promise.allSettled(peers.map((addr) => node.dial(addr)))
      const dialled = performance.now() - t0
      const failed = dials.flatMap((d) => (d.status === 'rejected' ? [String(d.reason?.message ?? d.reason)] : []))
      if (failed.length > 0) {
        node.removeEventListener('peer:identify', onIdentify as never)
        process.stdout.write(`fail ${failed.length} ${JSON.stringify(failed)}\n`)
        continue
      }
      if (waiting.size === 0) identified()
      await allIdentified
      const done = performance.now() - t0
      node.removeEventListener('peer:identify', onIdentify as never)
      process.stdout.write(`up ${dialled.toFixed(2)} ${done.toFixed(2)}\n`)
    }
  }
}
