/**
 * The plain-library side of the network lab's heal (test/lab/raw-heal.ts), run inside one lab host's
 * namespace: a js-libp2p node (createLibp2p) with the transports, encrypter, muxer and services a
 * daemon runs on its defaults, as raw-reconnect-node.ts has them, listening as a daemon does by
 * default (0.0.0.0: TCP, WebSockets, WebRTC-direct). Nothing redials on its own.
 *
 * Prints `node <peerId> <addrs as JSON>`, then takes commands on stdin, one a line:
 * `dial <multiaddr>...` dials all at once and prints `up <peerId>` as each connects (`fail <peerId>
 * <message>` for one that failed); `hangup <peerId>...` closes the connections to them and prints
 * `down`. Stops on SIGTERM.
 */
// the Node 20 shims a js-libp2p app needs there, as the daemon has them (design.md)
import '../../src/shims.ts'
import { createInterface } from 'node:readline'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

/** The daemon's default DHT protocol (config.ts `dhtProtocol`). */
const DHT_PROTOCOL = '/switchboard/kad/1.0.0'

const node = await createLibp2p({
  addresses: { listen: ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws', '/ip4/0.0.0.0/udp/0/webrtc-direct'] },
  transports: [tcp(), webSockets(), webRTCDirect()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // the lab's hosts have private addresses, which libp2p's default gater refuses to dial
  connectionGater: { denyDialMultiaddr: async () => false },
  // nothing redials on its own, as in the daemon (its peer actors own redialling): with no parallel
  // reconnects allowed libp2p's reconnect queue never runs one
  connectionManager: {
    maxParallelReconnects: 0,
    // the daemon's figure (node-factory.ts): libp2p's default, 10, refuses the rest of a heal's inbound dials
    maxIncomingPendingConnections: 64,
  },
  services: {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping(),
    dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }),
    pubsub: gossipsub(),
  },
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
