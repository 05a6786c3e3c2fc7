import { Type } from '@sinclair/typebox'
import { MessagingError } from '../../actors/messaging/errors.ts'
import { messagingOf } from '../../actors/messaging/messaging-extension.ts'
import { checkProtocolId } from '../../p2p/message-codec.ts'
import { parsePeerId } from '../../p2p/validate.ts'
import { defineMethod, type MethodContext } from '../method.ts'
import { badRequest, RpcError } from '../rpc-error.ts'

const ProtocolParam = Type.String({ maxLength: 1024 })

/** Run a messaging call, answering its own failures with their protocol code. */
async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof MessagingError) throw new RpcError(err.code, err.message)
    throw err
  }
}

const service = (ctx: MethodContext) => messagingOf(ctx.sb, ctx.session.boundAlias())

/** p2p-webapp's direct messages: start, stop, send; `peerData` and `ack` pushes follow. */
export const messagingMethods = [
  defineMethod({
    name: 'start',
    params: Type.Object({ protocol: ProtocolParam }),
    handler: ({ protocol }, ctx) =>
      call(async () => {
        await service(ctx).startProtocol(checkProtocolId(protocol), ctx.session)
        return null
      }),
  }),
  defineMethod({
    name: 'stop',
    params: Type.Object({ protocol: ProtocolParam }),
    handler: ({ protocol }, ctx) =>
      call(async () => {
        await service(ctx).stopProtocol(checkProtocolId(protocol), ctx.session)
        return null
      }),
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
    handler: ({ peer, protocol, data, ack = -1 }, ctx) =>
      call(() => {
        const to = parsePeerId(peer, 'peer').toString()
        const proto = checkProtocolId(protocol)
        if (data === undefined) throw badRequest('data: missing (any JSON value)')
        service(ctx).send(ctx.session, to, proto, data, ack)
        return null
      }),
  }),
]
