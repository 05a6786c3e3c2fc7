import { Type } from '@sinclair/typebox'
import { dhtOps } from '../../actors/dht/dht-ops.ts'
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
      const parsed = parseCid(cid)
      const alias = ctx.session.boundAlias()
      await ctx.sb.dht(
        alias,
        { kind: 'provide', key: cid },
        (signal) => dhtOps.provide(ctx.sb.runtimes.handle(alias).libp2p, parsed, signal),
        opSignal(ctx, timeoutMs),
      )
      return { cid }
    },
  }),
  defineMethod({
    name: 'dht.findProviders',
    params: Type.Object({ cid: CidParam, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), timeoutMs: Timeout }),
    handler: async ({ cid, limit = 20, timeoutMs }, ctx) => {
      const parsed = parseCid(cid)
      const alias = ctx.session.boundAlias()
      const providers = await ctx.sb.dht(
        alias,
        { kind: 'findProviders', key: cid },
        (signal) => dhtOps.findProviders(ctx.sb.runtimes.handle(alias).libp2p, parsed, limit, signal),
        opSignal(ctx, timeoutMs),
      )
      return { providers }
    },
  }),
  defineMethod({
    name: 'dht.findPeer',
    params: Type.Object({ peerId: Type.String({ minLength: 1, maxLength: 256 }), timeoutMs: Timeout }),
    handler: async ({ peerId, timeoutMs }, ctx) => {
      const parsed = parsePeerId(peerId)
      const alias = ctx.session.boundAlias()
      return ctx.sb.dht(
        alias,
        { kind: 'findPeer', key: peerId },
        (signal) => dhtOps.findPeer(ctx.sb.runtimes.handle(alias).libp2p, parsed, signal),
        opSignal(ctx, timeoutMs),
      )
    },
  }),
]
