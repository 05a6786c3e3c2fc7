import { enqueueActions, setup } from 'xstate'
import { childIds } from '../actor-ids.ts'
import { peerMachine } from '../peer/peer.machine.ts'
import type { PeersContext, PeersEvent, PeersInput } from './peers.types.ts'

/** One shard of a node's peer actors: spawns, routes to and releases `peer:<alias>:<peerId>` actors. */
export const peersMachine = setup({
  types: {
    context: {} as PeersContext,
    events: {} as PeersEvent,
    input: {} as PeersInput,
  },
  actors: { peer: peerMachine },
  actions: {
    route: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.route') return
      const id = childIds.peer(context.alias, event.peerId)
      if (!context.peerIds.includes(event.peerId)) {
        if (!event.spawn) return
        enqueue.spawnChild('peer', { id, systemId: id, input: event.input })
        enqueue.assign({ peerIds: [...context.peerIds, event.peerId] })
      }
      if (event.event) enqueue.sendTo(id, event.event)
    }),
    release: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.release' || !context.peerIds.includes(event.peerId)) return
      enqueue.stopChild(childIds.peer(context.alias, event.peerId))
      enqueue.assign({ peerIds: context.peerIds.filter((p) => p !== event.peerId) })
    }),
    broadcast: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.broadcast') return
      for (const peerId of context.peerIds) enqueue.sendTo(childIds.peer(context.alias, peerId), event.event)
    }),
  },
}).createMachine({
  id: 'peers',
  context: ({ input }) => ({ ...input, peerIds: [] }),
  initial: 'active',
  states: {
    active: {
      description: 'Routes events to its peer actors, spawning and releasing them.',
      on: { 'peers.route': { actions: 'route' }, 'peers.release': { actions: 'release' }, 'peers.broadcast': { actions: 'broadcast' } },
    },
  },
})

export function peersPublicContext(context: PeersContext) {
  return { alias: context.alias, shard: context.shard, count: context.peerIds.length }
}
