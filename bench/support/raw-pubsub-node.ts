import '../../src/shims.ts'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { WebSocketServer } from 'ws'
import { CLI_ARGS } from '../../test/support/process-daemon.ts'
import { spawnBenchChild } from './bench-child.ts'

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

export interface RawPubsubNode {
  wsUrl: string
  peerId: string
  addr: string
  stop(): Promise<void>
}

/** Start one node in its own process (from the current sources through tsx, as the daemons run). */
export async function startRawPubsubNode(dial?: string, profileName?: string): Promise<RawPubsubNode> {
  // SWITCHBOARD_BENCH_CPU_PROF=<dir>: profiled as the daemons are (bench/support/default-daemon.ts), in
  // <dir>/<profileName>/ with Node's own file names: one per thread (tsx's loader runs in a worker)
  const profDir = process.env.SWITCHBOARD_BENCH_CPU_PROF
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, profileName ?? 'raw-pubsub')}`] : []
  const child = spawnBenchChild([...nodeArgs, ...CLI_ARGS.slice(0, 2), fileURLToPath(import.meta.url), ...(dial ? ['--dial', dial] : [])], {
    what: 'raw pubsub node',
  })
  const [, wsUrl = '', peerId = '', addr = ''] = (await child.line('raw-pubsub ')).split(' ')
  return { wsUrl, peerId, addr, stop: () => child.stop() }
}

async function main(): Promise<void> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) },
  })
  const pubsub = node.services.pubsub
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()
  let pushes = 0
  wss.on('connection', (socket) => {
    const push = (method: string, params: unknown) =>
      socket.send(JSON.stringify({ requestid: ++pushes, isresponse: false, method, params }))
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
    socket.on('close', () => {
      pubsub.removeEventListener('subscription-change', onChange)
      pubsub.removeEventListener('message', onMessage as never)
    })
    socket.on('message', (data) => {
      const { requestid, method, params } = JSON.parse(String(data)) as {
        requestid: number
        method: string
        params: { topic: string; data?: unknown }
      }
      const answer = (result: unknown) => socket.send(JSON.stringify({ requestid, isresponse: true, result }))
      if (method === 'subscribe') {
        pubsub.subscribe(params.topic)
        answer(null)
        onChange()
      } else if (method === 'publish') {
        void pubsub.publish(params.topic, encoder.encode(JSON.stringify(params.data))).then(() => answer(null))
      } else {
        socket.send(JSON.stringify({ requestid, isresponse: true, error: { code: 404, message: `unknown method ${method}` } }))
      }
    })
  })
  const dialAt = process.argv.indexOf('--dial')
  if (dialAt >= 0) await node.dial(multiaddr(process.argv[dialAt + 1] as string))
  const { port } = wss.address() as { port: number }
  process.stdout.write(`raw-pubsub ws://127.0.0.1:${port} ${node.peerId} ${node.getMultiaddrs()[0]}\n`)
  process.once('SIGTERM', () => {
    wss.close()
    void Promise.resolve(node.stop()).then(() => process.exit(0))
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main()
