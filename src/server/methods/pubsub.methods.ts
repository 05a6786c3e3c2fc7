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
    params: Type.Object({ topic: TopicParam, data: Type.Unknown() }),
    handler: async ({ topic, data }, ctx) => {
      if (data === undefined) throw badRequest('data: missing (any JSON value)')
      await topics(ctx).publish(topic, data)
      return null
    },
  }),
  defineMethod({
    name: 'listpeers',
    params: Type.Object({ topic: TopicParam }),
    handler: ({ topic }, ctx) => ({ peers: topics(ctx).listPeers(topic) }),
  }),
]
