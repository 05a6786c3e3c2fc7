import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { createNode, type NodeHandle, type NodeOptions } from '../../src/p2p/node-factory.ts'

let counter = 0

/**
 * A bare libp2p+Helia node on 127.0.0.1 with no Switchboard around it: a stranger that connects to
 * a daemon (to fill its connection slots, or to misbehave). Its own DHT protocol keeps it out of the
 * daemons' DHT, so it makes no connections of its own accord.
 */
export async function startRawNode(privateKey?: PrivateKey, extra: Partial<NodeOptions> = {}): Promise<NodeHandle> {
  return createNode({
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    dhtProtocol: `/sb-test-raw-${process.pid}-${counter++}/kad/1.0.0`,
    allowPrivateAddresses: true,
    ...extra,
  })
}
