import { join } from 'node:path'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import type { ServiceMap } from '@libp2p/interface'
import { createLibp2p, type Libp2p, type ServiceFactoryMap } from 'libp2p'
import { WebSocketServer } from 'ws'
import { CLI_ARGS } from '../../test/support/process-daemon.ts'
import { spawnBenchChild } from './bench-child.ts'

/**
 * What the raw-library nodes of the topology benchmarks share (bench/support/raw-pubsub-node.ts,
 * raw-messages-node.ts): one js-libp2p node in its own process behind a bare `ws` server that answers
 * the bench client's few methods and pushes, printing one line `<tag> <wsUrl> <peerId> <tcp multiaddr>`
 * once it listens; `--dial <addr>` dials another such node first.
 */

export interface RawWsNode {
  wsUrl: string
  peerId: string
  addr: string
  stop(): Promise<void>
}

/** Start `script` (a raw node's file) in its own process, from the current sources through tsx as the daemons run. */
export async function startRawWsNode(script: string, tag: string, dial?: string, profileName?: string): Promise<RawWsNode> {
  // SWITCHBOARD_BENCH_CPU_PROF=<dir>: profiled as the daemons are (bench/support/default-daemon.ts), in
  // <dir>/<profileName>/ with Node's own file names: one per thread (tsx's loader runs in a worker)
  const profDir = process.env.SWITCHBOARD_BENCH_CPU_PROF
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, profileName ?? tag)}`] : []
  const child = spawnBenchChild([...nodeArgs, ...CLI_ARGS.slice(0, 2), script, ...(dial ? ['--dial', dial] : [])], {
    what: `${tag} node`,
  })
  const [, wsUrl = '', peerId = '', addr = ''] = (await child.line(`${tag} `)).split(' ')
  return { wsUrl, peerId, addr, stop: () => child.stop() }
}

/** In the child: the node, on loopback TCP with Noise and Yamux and the given services. */
export function rawLibp2p<T extends ServiceMap>(services: ServiceFactoryMap<T>): Promise<Libp2p<T>> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services,
  })
}

/** One client's socket: pushes to it, and what to undo when it closes. */
export interface RawSocket {
  push(method: string, params: unknown): void
  onClose(fn: () => void): void
}

/** A method's result (null for none), or a promise of it. */
export type RawMethods = Record<string, (params: never) => unknown>

/** In the child: serve `node` over a bare ws server, `connect` giving each socket its methods; then dial, print the line, stop on SIGTERM. */
export async function serveRawWsNode(node: Libp2p, tag: string, connect: (socket: RawSocket) => RawMethods): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  let pushes = 0
  wss.on('connection', (socket) => {
    const methods = connect({
      push: (method, params) => socket.send(JSON.stringify({ requestid: ++pushes, isresponse: false, method, params })),
      onClose: (fn) => socket.on('close', fn),
    })
    socket.on('message', (data) => {
      const { requestid, method, params } = JSON.parse(String(data)) as { requestid: number; method: string; params: never }
      const answer = (result: unknown) => socket.send(JSON.stringify({ requestid, isresponse: true, result }))
      const handler = methods[method]
      if (!handler) {
        socket.send(JSON.stringify({ requestid, isresponse: true, error: { code: 404, message: `unknown method ${method}` } }))
        return
      }
      const result = handler(params)
      if (result instanceof Promise) void result.then(answer)
      else answer(result)
    })
  })
  const dialAt = process.argv.indexOf('--dial')
  if (dialAt >= 0) await node.dial(multiaddr(process.argv[dialAt + 1] as string))
  const { port } = wss.address() as { port: number }
  process.stdout.write(`${tag} ws://127.0.0.1:${port} ${node.peerId} ${node.getMultiaddrs()[0]}\n`)
  process.once('SIGTERM', () => {
    wss.close()
    void Promise.resolve(node.stop()).then(() => process.exit(0))
  })
}
