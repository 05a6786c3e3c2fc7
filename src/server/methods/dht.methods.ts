import { Type } from '@sinclair/typebox'
import { parseCid, parsePeerId } from '../../p2p/validate.ts'
import { defineMethod, type MethodContext } from '../method.ts'

const CidParam = Type.String({ minLength: 1, maxLength: 256 })
const Timeout = Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 }))

/** Abort when the socket closes or `timeoutMs` passes, whichever is first. */
const opSignal = (ctx: MethodContext, timeoutMs: number | undefined) =>
  timeoutMs === undefined ? ctx.signal : AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)])

/** DHT operations through the bound node's queue: they wait until its DHT is ready. */
export const dhtMethods = [
  defineMethod({
    name: 'dht.provide',
    params: Type.Object({ cid: CidParam, timeoutMs: Timeout }),
    handler: async ({ cid, timeoutMs }, ctx) => {
      await ctx.dht.provide(ctx.session.boundAlias(), parseCid(cid), opSignal(ctx, timeoutMs))
      return { cid }
    },
  }),
  defineMethod({
    name: 'dht.findProviders',
    params: Type.Object({ cid: CidParam, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), timeoutMs: Timeout }),
    handler: async ({ cid, limit = 20, timeoutMs }, ctx) => {
      const providers = await ctx.dht.findProviders(ctx.session.boundAlias(), parseCid(cid), limit, opSignal(ctx, timeoutMs))
      return { providers }
    },
  }),
  defineMethod({
    name: 'dht.findPeer',
    params: Type.Object({ peerId: Type.String({ minLength: 1, maxLength: 256 }), timeoutMs: Timeout }),
    handler: async ({ peerId, timeoutMs }, ctx) => {
      return ctx.dht.findPeer(ctx.session.boundAlias(), parsePeerId(peerId), opSignal(ctx, timeoutMs))
    },
  }),
]
