import { Type } from '@sinclair/typebox'
import { systemIds } from '../../machines/actor-ids.ts'
import { MAX_TICKET_CHARS } from '../../p2p/pairing/ticket.ts'
import { defineMethod, type MethodContext } from '../method.ts'
import { peerState } from '../peer-state.ts'
import { notFound } from '../rpc-error.ts'

const pairingOf = (ctx: MethodContext) => ctx.nodes.services(ctx.session.boundAlias()).pairing
const Name = Type.String({ minLength: 1, maxLength: 256 })

/** Device pairing by ticket (seed design 002): one side makes a ticket, the other joins with it. */
export const pairingMethods = [
  defineMethod({
    name: 'pairing.create',
    params: Type.Object({
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 7 * 24 * 3600 })),
      /** How this device introduces itself to the joiner (default: the host name). */
      name: Type.Optional(Name),
    }),
    handler: (params, ctx) => pairingOf(ctx).create(params),
  }),
  defineMethod({
    name: 'pairing.join',
    params: Type.Object({
      ticket: Type.String({ maxLength: MAX_TICKET_CHARS }),
      /** How this device introduces itself to the ticket's device (default: the host name). */
      name: Type.Optional(Name),
    }),
    handler: async ({ ticket, name }, ctx) => {
      const alias = ctx.session.boundAlias()
      const { peerId } = await pairingOf(ctx).join(ticket, name, ctx.signal)
      const snap = ctx.actors.registry.get(systemIds.peer(alias, peerId))
      if (!snap) throw notFound(`paired with ${peerId}, but its peer actor is gone (forgotten meanwhile?)`)
      return peerState(snap)
    },
  }),
  defineMethod({
    name: 'pairing.cancel',
    params: Type.Object({ pairingId: Type.String({ minLength: 1, maxLength: 64 }) }),
    handler: ({ pairingId }, ctx) => {
      pairingOf(ctx).cancel(pairingId)
      return null
    },
  }),
]
