/**
 * The plain library as the raw baselines run it (raw-reconnect-node.ts, raw-lab-node.ts): a js-libp2p
 * node (createLibp2p) with the transports, encrypter, muxer and services a daemon runs on its
 * defaults (TCP, WebSockets, WebRTC-direct; Noise; Yamux; identify, identifyPush, ping, a server-mode
 * kad-dht on the daemon's protocol, gossipsub), each from its package with the package's defaults,
 * in-memory stores (as createLibp2p has them). Nothing of Switchboard's runs in it but the Node 20 shims.
 */
// the Node 20 shims a js-libp2p app needs there, as the daemon has them (design.md)
import '../../src/shims.ts'
import { gossipsub } from '@libp2p/gossipsub'
import { identify, identifyPush } from '@libp2p/identify'
import type { ConnectionGater } from '@libp2p/interface'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'

/** The daemon's default DHT protocol (config.ts `dhtProtocol`), so raw nodes and daemons speak it to the same peers. */
const DHT_PROTOCOL = '/switchboard/kad/1.0.0'

/** A daemon's default listeners: every transport on 0.0.0.0. */
export const DAEMON_LISTEN = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws', '/ip4/0.0.0.0/udp/0/webrtc-direct']

export function startDaemonLikeNode(opts: { listen: string[]; maxIncomingPendingConnections?: number; connectionGater?: ConnectionGater }) {
  return createLibp2p({
    addresses: { listen: opts.listen },
    transports: [tcp(), webSockets(), webRTCDirect()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(opts.connectionGater ? { connectionGater: opts.connectionGater } : {}),
    // nothing redials on its own, as in the daemon (its peer actors own redialling): kad-dht tags its
    // closest peers keep-alive and libp2p's reconnect queue would redial them after every hang-up;
    // with no parallel reconnects allowed the queue never runs one
    connectionManager: {
      maxParallelReconnects: 0,
      ...(opts.maxIncomingPendingConnections !== undefined ? { maxIncomingPendingConnections: opts.maxIncomingPendingConnections } : {}),
    },
    services: {
      identify: identify(),
      identifyPush: identifyPush(),
      ping: ping(),
      // loopback addresses kept, as the daemon's default (allowLoopbackAddresses) keeps them
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }),
      pubsub: gossipsub(),
    },
  })
}
