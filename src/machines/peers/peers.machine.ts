import { enqueueActions, setup } from 'xstate'
import { peerMachine } from '../peer/peer.machine.ts'
import type { PeersContext, PeersEvent, PeersInput } from './peers.types.ts'

export const PEER_SHARDS = 64

/** Which shard holds a peer: spawning under one parent slows with its child count, so peers are spread. */
export function shardOf(peerId: string): number {
  let h = 0
  for (let i = 0; i < peerId.length; i++) h = (Math.imul(h, 31) + peerId.charCodeAt(i)) | 0
  return (h >>> 0) % PEER_SHARDS
}

export const peerSystemId = (alias: string, peerId: string) => `peer:${alias}:${peerId}`

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
      const id = peerSystemId(context.alias, event.peerId)
      if (!context.peerIds.includes(event.peerId)) {
        if (!event.spawn) return
        enqueue.spawnChild('peer', { id, systemId: id, input: event.input })
        enqueue.assign({ peerIds: [...context.peerIds, event.peerId] })
      }
      if (event.event) enqueue.sendTo(id, event.event)
    }),
    release: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.release' || !context.peerIds.includes(event.peerId)) return
      enqueue.stopChild(peerSystemId(context.alias, event.peerId))
      enqueue.assign({ peerIds: context.peerIds.filter((p) => p !== event.peerId) })
    }),
  },
}).createMachine({
  id: 'peers',
  context: ({ input }) => ({ ...input, peerIds: [] }),
  initial: 'active',
  states: {
    active: {
      description: 'Routes events to its peer actors, spawning and releasing them.',
      on: { 'peers.route': { actions: 'route' }, 'peers.release': { actions: 'release' } },
    },
  },
})

export function peersPublicContext(context: PeersContext) {
  return { alias: context.alias, shard: context.shard, count: context.peerIds.length }
}
