import { multiaddr } from '@multiformats/multiaddr'
import { fromCallback, fromPromise } from 'xstate'
import type { DhtEvent, DhtOp, DhtOpError } from '../../machines/dht/dht.types.ts'
import { dialSignal } from '../../p2p/dial-signal.ts'
import type { SwitchboardLibp2p } from '../../p2p/node-factory.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'
import { runDhtOp } from './dht-ops.ts'

interface RoutingTableLike extends EventTarget {
  size: number
}

/** kad-dht keeps its routing table off the public interface; this is the one place that reaches in. */
export function routingTableOf(libp2p: SwitchboardLibp2p): RoutingTableLike | undefined {
  return (libp2p.services.dht as unknown as { routingTable?: RoutingTableLike }).routingTable
}

export function routingTableSize(libp2p: SwitchboardLibp2p): number {
  return routingTableOf(libp2p)?.size ?? 0
}

/** The DHT machine's side effects, bound to the live runtimes. */
export function dhtActors(runtimes: NodeRuntimes) {
  return {
    bootstrap: fromPromise<number, { alias: string }>(async ({ input, signal }) => {
      const runtime = runtimes.get(input.alias)
      const libp2p = runtimes.handle(input.alias).libp2p
      // Dial every configured bootstrap peer; one reachable peer is enough.
      const bootstrap = runtime?.spec.bootstrap ?? []
      const dials = await Promise.allSettled(
        bootstrap.map(async (addr) => {
          const dial = dialSignal(signal, runtimes.shared.dialTimeoutMs)
          try {
            await libp2p.dial(multiaddr(addr), { signal: dial.signal })
          } finally {
            dial.release()
          }
        }),
      )
      // nobody to learn from: say why (the machine keeps the message as lastError and its timer decides)
      if (libp2p.getConnections().length === 0 && bootstrap.length > 0) {
        const why = dials.map((d, i) => (d.status === 'rejected' ? `${bootstrap[i]}: ${(d.reason as Error)?.message ?? d.reason}` : ''))
        throw new Error(`no bootstrap peer reachable (${why.filter(Boolean).slice(0, 3).join('; ') || 'their connections closed'})`)
      }
      // Fill the routing table from what we reached; the machine's timer bounds the wait.
      if (routingTableSize(libp2p) === 0 && libp2p.getConnections().length > 0) {
        await libp2p.services.dht.refreshRoutingTable?.().catch(() => {})
      }
      return routingTableSize(libp2p)
    }),

    watchRoutingTable: fromCallback<DhtEvent, { alias: string }>(({ input, sendBack }) => {
      const libp2p = runtimes.handle(input.alias).libp2p
      const table = routingTableOf(libp2p)
      const onTable = () => sendBack({ type: 'dht.routingTable', size: routingTableSize(libp2p) })
      const onPeer = () => sendBack({ type: 'dht.peerConnected', routingTableSize: routingTableSize(libp2p) })
      table?.addEventListener('peer:add', onTable)
      table?.addEventListener('peer:remove', onTable)
      libp2p.addEventListener('peer:connect', onPeer)
      return () => {
        table?.removeEventListener('peer:add', onTable)
        table?.removeEventListener('peer:remove', onTable)
        libp2p.removeEventListener('peer:connect', onPeer)
      }
    }),

    /** Runs one operation from its plain description; the outcome goes back as data, by op id. */
    runOp: fromCallback<DhtEvent, { alias: string; op: DhtOp }>(({ input, sendBack }) => {
      const controller = new AbortController()
      const { id } = input.op
      const settle = (outcome: { result: unknown } | { error: DhtOpError }) => {
        if (!controller.signal.aborted) sendBack({ type: 'dht.opSettled', id, ...outcome })
      }
      Promise.resolve()
        .then(() => runDhtOp(runtimes.handle(input.alias).libp2p, input.op, controller.signal))
        .then(
          (result) => settle({ result }),
          (err: unknown) => settle({ error: errorData(err) }),
        )
      return () => controller.abort(new Error(`DHT operation ${id} aborted`))
    }),
  }
}

function errorData(err: unknown): DhtOpError {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) }
}
