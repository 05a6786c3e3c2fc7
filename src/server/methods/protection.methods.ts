import { Type } from '@sinclair/typebox'
import { defineMethod } from '../method.ts'

// entries are checked one by one: an invalid id is skipped and reported, never a 400 for the list
const PeerIdList = Type.Object({ peerIds: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 1000 }) })

/** p2p-webapp's addpeers / removepeers (seed design 000), with real protection from pruning. */
export const protectionMethods = [
  defineMethod({
    name: 'addpeers',
    params: PeerIdList,
    handler: async ({ peerIds }, ctx) => {
      await ctx.peers.addPeers(ctx.session.boundAlias(), peerIds)
      return null
    },
  }),
  defineMethod({
    name: 'removepeers',
    params: PeerIdList,
    handler: async ({ peerIds }, ctx) => {
      await ctx.peers.removePeers(ctx.session.boundAlias(), peerIds)
      return null
    },
  }),
]
