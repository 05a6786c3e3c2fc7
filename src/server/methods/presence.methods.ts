import { Type } from '@sinclair/typebox'
import { MAX_NICKNAME_LENGTH, MAX_PRESENCE_TTL_SECONDS } from '../../p2p/presence-record.ts'
import { defineMethod, type MethodContext } from '../method.ts'

const presenceOf = (ctx: MethodContext) => ctx.nodes.services(ctx.session.boundAlias()).presence

/** Online peers (seed design 003): signed presence records on a well-known GossipSub topic. */
export const presenceMethods = [
  defineMethod({
    name: 'presence.announce',
    params: Type.Object({
      nickname: Type.Optional(Type.String({ maxLength: MAX_NICKNAME_LENGTH })),
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PRESENCE_TTL_SECONDS })),
    }),
    handler: async (params, ctx) => {
      await presenceOf(ctx).announce(params)
      return null
    },
  }),
  defineMethod({
    name: 'presence.list',
    params: Type.Object({}),
    handler: (_, ctx) => ({ online: presenceOf(ctx).list() }),
  }),
]
