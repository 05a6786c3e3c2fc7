import { fromCallback, fromPromise } from 'xstate'
import type { NodeEvent, NodeStarted } from '../../machines/node/node.types.ts'
import { createNode } from '../../p2p/node-factory.ts'
import type { NodeRuntimes } from './node-runtimes.ts'

/** The node machine's side effects, bound to the live runtimes. */
export function nodeActors(runtimes: NodeRuntimes) {
  return {
    createNode: fromPromise<NodeStarted, { alias: string }>(async ({ input, signal }) => {
      const runtime = runtimes.get(input.alias)
      if (!runtime) throw new Error(`no spec registered for local node ${input.alias}`)
      const handle = await createNode(runtime.spec, signal)
      if (signal.aborted) {
        await handle.stop()
        signal.throwIfAborted()
      }
      runtime.handle = handle
      try {
        await runtimes.startServices(runtime)
        // stopped while extensions were starting (a tab closed during `peer`): undo all of it here,
        // since stopNode ran before these extensions existed
        signal.throwIfAborted()
      } catch (err) {
        await runtimes.stopServices(runtime)
        runtime.handle = undefined
        await handle.stop()
        throw err
      }
      return { peerId: handle.libp2p.peerId.toString(), addrs: handle.libp2p.getMultiaddrs().map(String) }
    }),

    stopNode: fromPromise<void, { alias: string }>(async ({ input }) => {
      const runtime = runtimes.get(input.alias)
      if (!runtime) return
      await runtimes.stopServices(runtime)
      const handle = runtime.handle
      runtime.handle = undefined
      await handle?.stop()
    }),

    watchNode: fromCallback<NodeEvent, { alias: string }>(({ input, sendBack }) => {
      const libp2p = runtimes.handle(input.alias).libp2p
      const onAddrs = () => sendBack({ type: 'node.addrs', addrs: libp2p.getMultiaddrs().map(String) })
      const onConnections = () => sendBack({ type: 'node.connections', count: libp2p.getConnections().length })
      // watchNode runs only while the node is `running`: a stop seen here was not asked for
      const onStop = () => sendBack({ type: 'node.crashed', error: 'libp2p stopped unexpectedly' })
      libp2p.addEventListener('stop' as never, onStop)
      libp2p.addEventListener('self:peer:update', onAddrs)
      libp2p.addEventListener('connection:open', onConnections)
      libp2p.addEventListener('connection:close', onConnections)
      onAddrs()
      onConnections()
      return () => {
        libp2p.removeEventListener('stop' as never, onStop)
        libp2p.removeEventListener('self:peer:update', onAddrs)
        libp2p.removeEventListener('connection:open', onConnections)
        libp2p.removeEventListener('connection:close', onConnections)
      }
    }),
  }
}
