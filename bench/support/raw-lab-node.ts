/**
 * The plain-library side of the network lab's heal (test/lab/raw-heal.ts), run inside one lab host's
 * namespace: raw-daemon-like-node.ts's js-libp2p node, listening as a daemon does by default (0.0.0.0:
 * TCP, WebSockets, WebRTC-direct). Nothing redials on its own.
 *
 * Prints `node <peerId> <addrs as JSON>`, then takes commands on stdin, one a line:
 * `dial <multiaddr>...` dials all at once and prints `up <peerId>` as each connects (`fail <peerId>
 * <message>` for one that failed); `hangup <peerId>...` closes the connections to them and prints
 * `down`. Stops on SIGTERM.
 */
// the Node 20 shims first, before any libp2p module loads (design.md)
import '../../src/shims.ts'
import { createInterface } from 'node:readline'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { DAEMON_LISTEN, startDaemonLikeNode } from './raw-daemon-like-node.ts'

const node = await startDaemonLikeNode({
  listen: DAEMON_LISTEN,
  // the daemon's figure (node-factory.ts): libp2p's default, 10, refuses the rest of a heal's inbound dials
  maxIncomingPendingConnections: 64,
  // the lab's hosts have private addresses, which libp2p's default gater refuses to dial
  connectionGater: { denyDialMultiaddr: async () => false },
})
process.once('SIGTERM', () => void Promise.resolve(node.stop()).finally(() => process.exit(0)))
process.stdout.write(`node ${node.peerId} ${JSON.stringify(node.getMultiaddrs().map(String))}\n`)

for await (const line of createInterface({ input: process.stdin })) {
  const [command, ...args] = line.split(' ').filter((a) => a !== '')
  if (command === 'dial') {
    for (const addr of args) {
      const ma = multiaddr(addr)
      const id = ma.getComponents().findLast((c) => c.name === 'p2p')?.value ?? ''
      node.dial(ma).then(
        () => process.stdout.write(`up ${id}\n`),
        (err: Error) => process.stdout.write(`fail ${id} ${JSON.stringify(err.message)}\n`),
      )
    }
  } else if (command === 'hangup') {
    await Promise.all(args.map((id) => node.hangUp(peerIdFromString(id))))
    process.stdout.write('down\n')
  }
}
