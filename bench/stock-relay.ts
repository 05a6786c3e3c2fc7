import '../src/shims.ts'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { resolve } from 'node:path'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { isMain } from './machine.ts'

/**
 * The baseline of bench/browser.ts, run as its own process (inside the bench's network namespace):
 * a plain js-libp2p node, as a web developer would write a relay for their app (WebSockets,
 * `circuitRelayServer` with its default limits but 64 reservations, identify, GossipSub subscribed to
 * the app's topics so it carries them between tabs, without the IP colocation penalty), plus a tiny HTTP server for examples/browser-chat (index.html and
 * its bundle), which the bench opens with `?daemon=<this node's /ws address>`. Prints one JSON line:
 * `{ws, http}`. Not a bench of its own (no `run`).
 */
async function main(): Promise<void> {
  const topics = process.argv.slice(2)
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/0.0.0.0/tcp/0/ws'] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      // the default limits but for the reservation count (15): the bench opens 22 tabs, and a closed
      // tab's reservation is held until its TTL
      relay: circuitRelayServer({ reservations: { maxReservations: 64 } }),
      // as the daemon: without the IP colocation penalty (by default the 11th tab from one address
      // within an hour is left out of the mesh, and the bench opens 22)
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }),
    },
  })
  for (const topic of topics) node.services.pubsub.subscribe(topic)
  const root = resolve(import.meta.dirname, '..')
  const files: Record<string, [string, string]> = {
    '/examples/browser-chat/': [resolve(root, 'examples/browser-chat/index.html'), 'text/html; charset=utf-8'],
    '/examples/browser-chat/app.js': [resolve(root, 'dist/examples/browser-chat/app.js'), 'text/javascript'],
  }
  const http = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname]
    if (!file) {
      res.writeHead(404).end()
      return
    }
    readFile(file[0]).then(
      (body) => res.writeHead(200, { 'content-type': file[1] }).end(body),
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const port = (http.address() as { port: number }).port
  const ws = node
    .getMultiaddrs()
    .map(String)
    .find((a) => a.startsWith('/ip4/127.0.0.1/') && a.includes('/ws/'))
  process.stdout.write(`${JSON.stringify({ ws, http: `http://127.0.0.1:${port}` })}\n`)
  const stop = () => {
    http.close()
    void Promise.resolve(node.stop()).finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (isMain(import.meta.url)) await main()
