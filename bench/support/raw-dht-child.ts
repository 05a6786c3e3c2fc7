/**
 * The raw side of bench/dht-ready.ts as its own program: a plain js-libp2p node (raw-dht-node.ts) that
 * prints `addr <multiaddr>`, and, given a seed, dials it and prints `ready` once its routing table holds
 * a peer. dht-ready.ts compiles it to JavaScript once per run and runs it with plain Node, as a
 * js-libp2p app runs (its packages loaded from node_modules, no loader).
 * Arguments: <protocol> <seed multiaddr | "seed">.
 */
// the Node 20 shims a js-libp2p app needs there as the daemon does (design.md)
import '../../src/shims.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { rawDhtNode } from './raw-dht-node.ts'

interface RoutingTable extends EventTarget {
  size: number
}

const [protocol = '', seed = 'seed'] = process.argv.slice(2)
const node = await rawDhtNode(protocol)
process.stdout.write(`addr ${node.getMultiaddrs()[0]?.toString()}\n`)
process.on('SIGTERM', () => void Promise.resolve(node.stop()).finally(() => process.exit(0)))
if (seed !== 'seed') {
  const table = (node.services.dht as unknown as { routingTable: RoutingTable }).routingTable
  const filled = new Promise<void>((resolve) => {
    if (table.size > 0) resolve()
    table.addEventListener('peer:add', () => resolve())
  })
  await node.dial(multiaddr(seed))
  await filled
  process.stdout.write('ready\n')
}
