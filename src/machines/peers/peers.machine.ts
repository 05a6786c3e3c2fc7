import { enqueueActions, setup } from 'xstate'
import { childIds, systemIds } from '../actor-ids.ts'
import { peerMachine } from '../peer/peer.machine.ts'
import type { PeersContext, PeersEvent, PeersInput } from './peers.types.ts'

/** The lowest free slot: a released peer's slot is taken again, so the child ids stay a dense run of small numbers. */
function freeSlot(slots: readonly (string | null)[]): number {
  const free = slots.indexOf(null)
  return free < 0 ? slots.length : free
}

/** `slots` with `slot` holding `peerId` (null: freed), without trailing free slots. */
function withSlot(slots: readonly (string | null)[], slot: number, peerId: string | null): (string | null)[] {
  const next = slots.slice()
  next[slot] = peerId
  while (next.length > 0 && next[next.length - 1] === null) next.pop()
  return next
}

/**
 * One shard of a node's peer actors: spawns, routes to and releases `peer:<alias>:<peerId>` actors.
 * Each is registered under its peer's systemId (what `system.get`, the registry and the wire name it
 * by) but is the shard's child under a slot number (`childIds.peer`): XState copies the shard's
 * children object on every spawn and stop, and V8 copies array-index keys as elements, where the
 * 63-character systemIds took its per-key slow path (bench/profiles/README.md, "Peer actors").
 */
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
      let slot = context.slots.indexOf(event.peerId)
      if (slot < 0) {
        if (!event.spawn) return
        slot = freeSlot(context.slots)
        const id = childIds.peer(slot)
        const { peerId, input } = event
        const systemId = event.systemId ?? systemIds.peer(context.alias, peerId)
        // spawned from assign rather than spawnChild: the same child, but XState copies the children
        // object at a site only this spawn uses, which V8 keeps fast (spawnChild's is shared by every
        // invoke and spawn of every machine, where each copy takes the generic per-key path)
        enqueue.assign(({ spawn }) => {
          spawn('peer', { id, systemId, input })
          return { peerIds: [...context.peerIds, peerId], slots: withSlot(context.slots, slot, peerId) }
        })
      }
      if (event.event) enqueue.sendTo(childIds.peer(slot), event.event)
    }),
    release: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.release') return
      const slot = context.slots.indexOf(event.peerId)
      if (slot < 0) return
      enqueue.stopChild(childIds.peer(slot))
      enqueue.assign({ peerIds: context.peerIds.filter((p) => p !== event.peerId), slots: withSlot(context.slots, slot, null) })
    }),
    broadcast: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peers.broadcast') return
      // by slot: each running peer actor once, without a search of the slots per peer
      for (const [slot, peerId] of context.slots.entries()) if (peerId !== null) enqueue.sendTo(childIds.peer(slot), event.event)
    }),
  },
}).createMachine({
  id: 'peers',
  context: ({ input }) => ({ ...input, peerIds: [], slots: [] }),
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
