import '../../src/shims.ts'
import { fileURLToPath } from 'node:url'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { type RawWsNode, rawLibp2p, serveRawWsNode, startRawWsNode } from './raw-ws-node.ts'

/**
 * The raw libraries in the daemons' topology, for bench/pubsub.ts: one js-libp2p node (TCP, Noise,
 * Yamux, identify, GossipSub with default options) in its own process, behind a bare `ws` server that
 * speaks just enough of the protocol for the bench's client: `subscribe`, `publish` (data sent as its
 * JSON text), `topicData` and `peerChange` pushes. No envelope checks, no limits, no actors: the same
 * three processes and the same WebSocket and libp2p hops as the Switchboard run, and nothing else.
 *
 * Run as a script it prints one line, `raw-pubsub <wsUrl> <peerId> <tcp multiaddr>`; `--dial <addr>`
 * dials another such node first.
 */

export type RawPubsubNode = RawWsNode

/** Start one node in its own process. */
export function startRawPubsubNode(dial?: string, profileName?: string): Promise<RawPubsubNode> {
  return startRawWsNode(fileURLToPath(import.meta.url), 'raw-pubsub', dial, profileName)
}

async function main(): Promise<void> {
  const node = await rawLibp2p({ identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) })
  const pubsub = node.services.pubsub
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  await serveRawWsNode(node, 'raw-pubsub', ({ push, onClose }) => {
    const known = new Set<string>()
    const onChange = () => {
      for (const topic of pubsub.getTopics()) {
        for (const p of pubsub.getSubscribers(topic)) {
          const key = `${topic} ${p}`
          if (known.has(key)) continue
          known.add(key)
          push('peerChange', { topic, peerid: p.toString(), joined: true })
        }
      }
    }
    const onMessage = (e: CustomEvent<{ topic: string; data: Uint8Array; type: string; from?: { toString(): string } }>) => {
      const m = e.detail
      push('topicData', { topic: m.topic, peerid: m.type === 'signed' ? String(m.from) : '', data: JSON.parse(decoder.decode(m.data)) })
    }
    pubsub.addEventListener('subscription-change', onChange)
    pubsub.addEventListener('message', onMessage as never)
    onClose(() => {
      pubsub.removeEventListener('subscription-change', onChange)
      pubsub.removeEventListener('message', onMessage as never)
    })
    return {
      subscribe: (params: { topic: string }) => {
        pubsub.subscribe(params.topic)
        // after the answer, as before
        queueMicrotask(onChange)
        return null
      },
      publish: (params: { topic: string; data?: unknown }) =>
        pubsub.publish(params.topic, encoder.encode(JSON.stringify(params.data))).then(() => null),
    }
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main()
