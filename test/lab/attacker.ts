/**
 * Scenario 5's attacker, run inside a lab host's namespace by eclipse.ts:
 *   node --import tsx test/lab/attacker.ts <victim multiaddr> <count>
 * `count` fresh identities, each a bare libp2p node (TCP, noise, yamux, identify) that connects to
 * the victim and claims, through identify, a listen address in 10.99.0.0/16 (one network group).
 * All stay connected until every one has been identified, then stop. Prints one JSON line.
 */
import '../../src/shims.ts'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'

const [target, countText] = process.argv.slice(2)
if (!target || !countText) throw new Error('usage: attacker.ts <victim multiaddr> <count>')
const count = Number(countText)
const nodes: Libp2p[] = []
let connected = 0
let failed = 0
let lastError = ''
const t0 = performance.now()
for (let i = 0; i < count; i++) {
  const fake = `/ip4/10.99.${Math.floor(i / 250)}.${(i % 250) + 1}/tcp/4001`
  const node = await createLibp2p({
    addresses: { listen: [], announce: [fake] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
  nodes.push(node)
  const identified = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2_000)
    node.addEventListener('peer:identify', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  // the victim refuses more than 5 inbound connections a second from one host (libp2p's
  // inboundConnectionThreshold): try again after a pause
  let ok = false
  for (let attempt = 0; attempt < 3 && !ok; attempt++) {
    try {
      await node.dial(multiaddr(target), { signal: AbortSignal.timeout(5_000) })
      ok = true
    } catch (err) {
      lastError = (err as Error).message
      await new Promise((r) => setTimeout(r, 300))
    }
  }
  if (ok) {
    connected++
    await identified
  } else failed++
  if (i % 20 === 19) process.stderr.write(`attacker: ${i + 1} identities, ${connected} connected, ${failed} refused (${lastError})\n`)
}
// the victim's identify of the last ones may still be under way
await new Promise((r) => setTimeout(r, 2_000))
await Promise.all(nodes.map(async (n) => n.stop()))
process.stdout.write(`${JSON.stringify({ count, connected, failed, lastError, ms: Math.round(performance.now() - t0) })}\n`)
process.exit(0)
