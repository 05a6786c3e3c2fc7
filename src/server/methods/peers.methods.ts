import { Type } from '@sinclair/typebox'
import { systemIds } from '../../machines/actor-ids.ts'
import { parseDialAddrs } from '../../p2p/dial-addrs.ts'
import { parsePeerId } from '../../p2p/validate.ts'
import { defineMethod, type MethodContext } from '../method.ts'
import { peerState } from '../peer-state.ts'
import { badRequest, notFound } from '../rpc-error.ts'

const PeerIdParam = Type.String({ minLength: 1, maxLength: 256 })
const PeerIds = Type.Array(PeerIdParam, { maxItems: 1000 })

/** A peer id from a client: parsed (400 naming the value otherwise) and never our own. */
function remotePeer(ctx: MethodContext, value: string, field = 'peerId'): string {
  const id = parsePeerId(value, field).toString()
  const self = ctx.nodes.get(ctx.session.boundAlias())?.handle?.libp2p.peerId.toString()
  if (id === self) throw badRequest(`${field}: ${id} is this local peer itself`)
  return id
}

function stateOf(ctx: MethodContext, alias: string, peerId: string) {
  const snap = ctx.actors.registry.get(systemIds.peer(alias, peerId))
  if (!snap) throw notFound(`unknown peer ${peerId}`)
  return peerState(snap)
}

export const peersMethods = [
  defineMethod({
    name: 'peers.list',
    params: Type.Object({}),
    handler: (_, ctx) => {
      const alias = ctx.session.boundAlias()
      return {
        peers: ctx.actors.registry
          .list(systemIds.peerPrefix(alias))
          .filter((s) => s.kind === 'peer')
          .map(peerState),
      }
    },
  }),
  defineMethod({
    name: 'peers.connect',
    // addrs: checked whole (at most 32, each dialable, a /p2p/ must name peerId) before any dial
    params: Type.Object({ peerId: PeerIdParam, addrs: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 1000 })) }),
    handler: async ({ peerId, addrs }, ctx) => {
      const alias = ctx.session.boundAlias()
      const id = remotePeer(ctx, peerId)
      const given = parseDialAddrs(addrs ?? [], id)
      await ctx.peers.learnAddresses(alias, id, given)
      return ctx.peers.connect(alias, id, ctx.signal)
    },
  }),
  defineMethod({
    name: 'peers.connectMany',
    params: Type.Object({ peerIds: PeerIds, concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })) }),
    handler: async ({ peerIds, concurrency = 3 }, ctx) => {
      const ids = peerIds.map((id, i) => remotePeer(ctx, id, `peerIds.${i}`))
      return { results: await ctx.peers.connectMany(ctx.session.boundAlias(), ids, concurrency, ctx.signal) }
    },
  }),
  defineMethod({
    name: 'peers.ensureConnected',
    params: Type.Object({ peerIds: PeerIds, concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })) }),
    handler: async ({ peerIds, concurrency = 3 }, ctx) => {
      const ids = peerIds.map((id, i) => remotePeer(ctx, id, `peerIds.${i}`))
      const results = await ctx.peers.connectMany(ctx.session.boundAlias(), ids, concurrency, ctx.signal)
      return { allConnected: Object.values(results).every((r) => r.success), results }
    },
  }),
  defineMethod({
    name: 'peers.disconnect',
    params: Type.Object({ peerId: PeerIdParam }),
    handler: async ({ peerId }, ctx) => {
      await ctx.peers.disconnect(ctx.session.boundAlias(), remotePeer(ctx, peerId))
      return null
    },
  }),
  defineMethod({
    name: 'peers.update',
    params: Type.Object({
      peerId: PeerIdParam,
      name: Type.Optional(Type.String({ maxLength: 256 })),
      autoConnect: Type.Optional(Type.Boolean()),
      known: Type.Optional(Type.Boolean()),
    }),
    handler: async ({ peerId, name, autoConnect, known }, ctx) => {
      const alias = ctx.session.boundAlias()
      const id = remotePeer(ctx, peerId)
      await ctx.peers.update(alias, id, {
        ...(name !== undefined ? { name } : {}),
        ...(autoConnect !== undefined ? { autoConnect } : {}),
        ...(known !== undefined ? { known } : {}),
      })
      return stateOf(ctx, alias, id)
    },
  }),
  defineMethod({
    name: 'peers.forget',
    params: Type.Object({ peerId: PeerIdParam }),
    handler: async ({ peerId }, ctx) => {
      await ctx.peers.forget(ctx.session.boundAlias(), remotePeer(ctx, peerId))
      return null
    },
  }),
  defineMethod({
    name: 'peers.connectAll',
    params: Type.Object({}),
    handler: async (_, ctx) => {
      const alias = ctx.session.boundAlias()
      return { results: await ctx.peers.connectMany(alias, ctx.peers.knownAutoConnect(alias), 3, ctx.signal) }
    },
  }),
  defineMethod({
    name: 'addressbook.list',
    params: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })) }),
    handler: ({ limit }, ctx) => ({ entries: ctx.stores.addressBook.list(limit) }),
  }),
  defineMethod({
    name: 'reputation.list',
    params: Type.Object({}),
    handler: (_, ctx) => ({ peers: ctx.stores.reputation.list() }),
  }),
  defineMethod({
    name: 'bans.add',
    params: Type.Object({
      peerId: PeerIdParam,
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 24 * 3600 })),
      reason: Type.Optional(Type.String({ maxLength: 1024 })),
    }),
    handler: ({ peerId, ttlSeconds, reason }, ctx) => ctx.gate.ban(remotePeer(ctx, peerId), ttlSeconds, reason ?? 'manual'),
  }),
  defineMethod({
    name: 'bans.remove',
    params: Type.Object({ peerId: PeerIdParam }),
    handler: async ({ peerId }, ctx) => {
      const id = parsePeerId(peerId).toString()
      if (!(await ctx.gate.unban(id))) throw notFound(`peer ${id} is not banned`)
      return null
    },
  }),
  defineMethod({
    name: 'bans.list',
    params: Type.Object({}),
    handler: (_, ctx) => ({ bans: ctx.stores.reputation.bans.list() }),
  }),
  defineMethod({
    name: 'activity.list',
    params: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) }),
    handler: ({ limit }, ctx) => ({
      activity: ctx.stores.activity.list(ctx.session.boundAlias(), limit).map(({ alias: _a, ...a }) => a),
    }),
  }),
]
