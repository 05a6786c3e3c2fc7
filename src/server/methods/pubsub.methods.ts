import { Type } from '@sinclair/typebox'
import { defineMethod, type MethodContext } from '../method.ts'
import { badRequest, notFound } from '../rpc-error.ts'

const TopicParam = Type.String({ minLength: 1 })

const topics = (ctx: MethodContext) => ctx.nodes.services(ctx.session.boundAlias()).topics

/** p2p-webapp's topic calls: subscribe, publish, unsubscribe, listpeers. */
export const pubsubMethods = [
  defineMethod({
    name: 'subscribe',
    params: Type.Object({ topic: TopicParam }),
    handler: async ({ topic }, ctx) => {
      await topics(ctx).subscribe(topic, ctx.session, ctx.signal)
      return null
    },
  }),
  defineMethod({
    name: 'unsubscribe',
    params: Type.Object({ topic: TopicParam }),
    handler: ({ topic }, ctx) => {
      if (!topics(ctx).unsubscribe(topic, ctx.session)) throw notFound(`not subscribed to topic ${JSON.stringify(topic.slice(0, 100))}`)
      return null
    },
  }),
  defineMethod({
    name: 'publish',
    // encoding (extension): `text` or `base64` publish a string's UTF-8 or decoded bytes, for stock
    // libp2p apps that speak plain text or binary; without it data is sent as its JSON text
    params: Type.Object({
      topic: TopicParam,
      data: Type.Unknown(),
      encoding: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('base64')])),
    }),
    handler: async ({ topic, data, encoding }, ctx) => {
      if (data === undefined) throw badRequest('data: missing (any JSON value)')
      await topics(ctx).publish(topic, data, encoding)
      return null
    },
  }),
  defineMethod({
    name: 'listpeers',
    params: Type.Object({ topic: TopicParam }),
    handler: ({ topic }, ctx) => ({ peers: topics(ctx).listPeers(topic) }),
  }),
]
