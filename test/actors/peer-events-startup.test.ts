import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { createActor, createMachine, type EventObject } from 'xstate'
import type { NodeRuntimes } from '../../src/actors/node/node-runtimes.ts'
import { watchPeersActor } from '../../src/actors/peer/peer-events.ts'
import { createNode, type NodeHandle } from '../../src/p2p/node-factory.ts'

/*
 * libp2p runs (bootstrap, mDNS, inbound dials) before a node's peer watch starts. Under churn in the
 * lab (twenty daemons on two cores) a restarted daemon's connection to its seed opened in that gap:
 * its peer:connect went to nobody, and the daemon never listed the seed it was connected to.
 */
const nodes: NodeHandle[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

const start = async () => {
  const node = await createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    dhtProtocol: `/sb-test-watch-${process.pid}/kad/1.0.0`,
    allowPrivateAddresses: true,
  })
  nodes.push(node)
  return node
}

describe("a node's peer watch", () => {
  it('routes a peer connected before it started as connected, so its actor exists', async () => {
    const [a, b] = await Promise.all([start(), start()])
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0] as never)
    const runtimes = {
      get: () => ({ knownPeers: { list: () => [] } }),
      handle: () => a,
      shared: { activity: { add: () => {} }, addressBook: { add: () => {}, forPeer: () => [] }, dialTimeoutMs: 10_000 },
    } as unknown as NodeRuntimes
    const got: EventObject[] = []
    const parent = createActor(
      createMachine({
        invoke: {
          src: watchPeersActor(runtimes),
          input: { alias: 'a', backoff: { initialMs: 1, maxMs: 1, explicitRetryMs: 1, explicitTries: 1 } },
        },
        on: { '*': { actions: ({ event }) => got.push(event) } },
      }),
    )
    parent.start()
    parent.stop()
    expect(got).toEqual([
      expect.objectContaining({
        type: 'peers.route',
        peerId: b.libp2p.peerId.toString(),
        spawn: true,
        event: expect.objectContaining({ type: 'peer.connected', connectionType: 'direct' }),
      }),
    ])
  })
})
