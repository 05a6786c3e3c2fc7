import '../../src/shims.ts'
import { fileURLToPath } from 'node:url'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'
import { type RawSocket, type RawWsNode, rawLibp2p, serveRawWsNode, startRawWsNode } from './raw-ws-node.ts'

/**
 * The raw libraries in the daemons' topology, for bench/messages.ts: one js-libp2p node (TCP, Noise,
 * Yamux, identify) in its own process, behind a bare `ws` server that speaks just enough of the
 * protocol for the bench's client: `start {protocol}` handles the protocol; `send {peer, protocol, data,
 * ack}` writes one length-prefixed frame (a 4-byte frame number, then the JSON text of `data`) on one
 * long-lived stream per peer and protocol; the receiver pushes `peerData {peer, protocol, data}` to
 * each client that started the protocol and answers with the 4-byte frame number; that ack becomes the
 * sender's `ack {ack, delivered: true}` push. No envelope checks, limits, retries, dedup or actors.
 *
 * Run as a script it prints one line, `raw-messages <wsUrl> <peerId> <tcp multiaddr>`; `--dial <addr>`
 * dials another such node first.
 */

/** Start one node in its own process. */
export function startRawMessagesNode(dial?: string, profileName?: string): Promise<RawWsNode> {
  return startRawWsNode(fileURLToPath(import.meta.url), 'raw-messages', dial, profileName)
}

async function main(): Promise<void> {
  const node = await rawLibp2p({ identify: identify() })
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  /** Per protocol, the pushes of the sockets that started it. */
  const started = new Map<string, Set<RawSocket['push']>>()
  /** Per `<peer> <protocol>`, the stream messages go out on. */
  const outbound = new Map<string, Promise<LengthPrefixedStream>>()
  /** Per frame number, what its ack settles. */
  const waiting = new Map<number, () => void>()
  let frames = 0

  const handle = (protocol: string) =>
    node.handle(protocol, async (stream, connection) => {
      const lp = lpStream(stream)
      const peer = connection.remotePeer.toString()
      try {
        while (true) {
          const frame = (await lp.read()).subarray()
          const data = JSON.parse(decoder.decode(frame.subarray(4)))
          for (const push of started.get(protocol) ?? []) push('peerData', { peer, protocol, data })
          await lp.write(frame.subarray(0, 4))
        }
      } catch {
        // the sender closed the stream
      }
    })

  const streamTo = (peer: string, protocol: string) => {
    const key = `${peer} ${protocol}`
    let lp = outbound.get(key)
    if (!lp) {
      lp = node.dialProtocol(peerIdFromString(peer), protocol).then((stream) => {
        const out = lpStream(stream)
        void (async () => {
          try {
            while (true) {
              const n = (await out.read()).getUint32(0)
              waiting.get(n)?.()
              waiting.delete(n)
            }
          } catch {
            // closed when the node stops
          }
        })()
        return out
      })
      outbound.set(key, lp)
    }
    return lp
  }

  await serveRawWsNode(node, 'raw-messages', ({ push, onClose }) => {
    const mine = new Set<string>()
    onClose(() => {
      for (const protocol of mine) started.get(protocol)?.delete(push)
    })
    return {
      start: async ({ protocol }: { protocol: string }) => {
        if (!started.has(protocol)) {
          started.set(protocol, new Set())
          await handle(protocol)
        }
        started.get(protocol)?.add(push)
        mine.add(protocol)
        return null
      },
      send: ({ peer, protocol, data, ack }: { peer: string; protocol: string; data: unknown; ack: number }) => {
        const n = frames++
        if (ack >= 0) waiting.set(n, () => push('ack', { ack, delivered: true }))
        const body = encoder.encode(JSON.stringify(data))
        const frame = new Uint8Array(4 + body.length)
        new DataView(frame.buffer).setUint32(0, n)
        frame.set(body, 4)
        // in order: each write is chained on the same promise of the stream
        void streamTo(peer, protocol).then((lp) => lp.write(frame))
        return null
      },
    }
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main()
