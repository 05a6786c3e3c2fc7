import { Type } from '@sinclair/typebox'
import { checkProtocolId } from '../../p2p/message-codec.ts'
import { parsePeerId } from '../../p2p/validate.ts'
import { defineMethod, type MethodContext } from '../method.ts'
import { badRequest } from '../rpc-error.ts'

const ProtocolParam = Type.String({ maxLength: 1024 })

const service = (ctx: MethodContext) => ctx.nodes.services(ctx.session.boundAlias()).messaging

/** p2p-webapp's direct messages: start, stop, send; `peerData` and `ack` pushes follow. */
export const messagingMethods = [
  defineMethod({
    name: 'start',
    params: Type.Object({ protocol: ProtocolParam }),
    handler: async ({ protocol }, ctx) => {
      await service(ctx).startProtocol(checkProtocolId(protocol), ctx.session)
      return null
    },
  }),
  defineMethod({
    name: 'stop',
    params: Type.Object({ protocol: ProtocolParam }),
    handler: async ({ protocol }, ctx) => {
      await service(ctx).stopProtocol(checkProtocolId(protocol), ctx.session)
      return null
    },
  }),
  defineMethod({
    name: 'send',
    params: Type.Object({
      peer: Type.String({ maxLength: 256 }),
      protocol: ProtocolParam,
      data: Type.Unknown(),
      // p2p-webapp numbers acks from 0; below 0 (or absent) asks for no ack push
      ack: Type.Optional(Type.Integer()),
    }),
    // a messaging failure carries its protocol code (400, 409, 413, 429): toRpcError answers with it
    handler: ({ peer, protocol, data, ack = -1 }, ctx) => {
      const to = parsePeerId(peer, 'peer').toString()
      const proto = checkProtocolId(protocol)
      if (data === undefined) throw badRequest('data: missing (any JSON value)')
      service(ctx).send(ctx.session, to, proto, data, ack)
      return null
    },
  }),
]
