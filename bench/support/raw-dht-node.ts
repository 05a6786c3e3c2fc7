import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'

/** The plain-library equivalent of a daemon's DHT: TCP, Noise, Yamux, identify and a server-mode Kademlia DHT on `protocol`, on 127.0.0.1. */
export function rawDhtNode(protocol: string): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol, clientMode: false, peerInfoMapper: passthroughMapper }),
    },
  })
}
