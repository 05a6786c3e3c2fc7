import { afterEach, describe, expect, it, vi } from 'vitest'
import { createActor, createMachine, type EventObject } from 'xstate'
import type { NodeRuntimes } from '../../src/actors/node/node-runtimes.ts'
import { watchPeersActor } from '../../src/actors/peer/peer-events.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'
import { startRawNode } from '../support/raw-node.ts'

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
  const node = await startRawNode()
  nodes.push(node)
  return node
}

type ActivityItem = { type: string; message: string }

/** What the watch reads of the runtimes: the node, no known peers, an activity feed to read back. */
const fakeRuntimes = (node: NodeHandle, activity: ActivityItem[] = []) =>
  ({
    get: () => ({ knownPeers: { list: () => [] } }),
    handle: () => node,
    shared: {
      activity: { add: (a: ActivityItem) => activity.push(a) },
      addressBook: { add: () => {}, forPeer: () => [] },
      dialTimeoutMs: 10_000,
    },
  }) as unknown as NodeRuntimes

/** The watch under a parent that keeps every event it sends back. */
const watch = (runtimes: NodeRuntimes, got: EventObject[]) =>
  createActor(
    createMachine({
      invoke: {
        src: watchPeersActor(runtimes),
        input: { alias: 'a', backoff: { initialMs: 1, maxMs: 1, explicitRetryMs: 1, explicitTries: 1 } },
      },
      on: { '*': { actions: ({ event }) => got.push(event) } },
    }),
  )

describe("a node's peer watch", () => {
  it('routes a peer connected before it started as connected, so its actor exists', async () => {
    const [a, b] = await Promise.all([start(), start()])
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0] as never)
    const got: EventObject[] = []
    const parent = watch(fakeRuntimes(a), got)
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

  it("names the connection that ended a peer's in the activity feed: direction, address, age", async () => {
    const [a, b] = await Promise.all([start(), start()])
    const activity: ActivityItem[] = []
    const parent = watch(fakeRuntimes(a, activity), [])
    parent.start()
    const addr = b.libp2p.getMultiaddrs()[0]?.toString() ?? ''
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0] as never)
    await a.libp2p.hangUp(b.libp2p.peerId)
    await vi.waitFor(() => expect(activity.some((x) => x.type === 'peer_left')).toBe(true))
    parent.stop()
    const left = activity.find((x) => x.type === 'peer_left')?.message
    expect(left).toMatch(/^disconnected from \S+ \(outbound connection to (\S+), open \d+ ms\)$/)
    expect(left).toContain(`disconnected from ${b.libp2p.peerId} (outbound connection to ${addr}`)
  })
})
