import { Type } from '@sinclair/typebox'
import type { ClientSession } from '../client-session.ts'
import { defineMethod, type MethodContext } from '../method.ts'
import { badRequest, notFound } from '../rpc-error.ts'

const TOPIC_MAX_BYTES = 1024
const TopicParam = Type.String({ minLength: 1 })

/** Topics the daemon itself runs on (presence); clients may publish to none and subscribe to none. */
export const RESERVED_TOPIC_PREFIX = 'switchboard/'

/** A topic name from a client: 1 byte to 1 KiB of UTF-8, outside the reserved prefix. */
function topicName(topic: string): string {
  if (Buffer.byteLength(topic) > TOPIC_MAX_BYTES) throw badRequest(`topic: longer than ${TOPIC_MAX_BYTES} bytes`)
  if (topic.startsWith(RESERVED_TOPIC_PREFIX))
    throw badRequest(`topic: names starting with ${RESERVED_TOPIC_PREFIX} are reserved for the daemon`)
  return topic
}

const topics = (ctx: MethodContext) => ctx.sb.topics(ctx.session.boundAlias())

/** Per connection, the disposer of each topic's close-time unsubscribe, so subscribe/unsubscribe cycles leave nothing behind. */
const cleanups = new WeakMap<ClientSession, Map<string, () => void>>()
function closeCleanups(session: ClientSession): Map<string, () => void> {
  let map = cleanups.get(session)
  if (!map) {
    map = new Map()
    cleanups.set(session, map)
  }
  return map
}

/** p2p-webapp's topic calls: subscribe, publish, unsubscribe, listpeers. */
export const pubsubMethods = [
  defineMethod({
    name: 'subscribe',
    params: Type.Object({ topic: TopicParam }),
    handler: async ({ topic }, ctx) => {
      const ext = topics(ctx)
      const name = topicName(topic)
      if (!ext.isSubscribed(name, ctx.session))
        closeCleanups(ctx.session).set(
          name,
          ctx.session.onClose(() => void ext.unsubscribe(name, ctx.session)),
        )
      await ext.subscribe(name, ctx.session, ctx.signal)
      return null
    },
  }),
  defineMethod({
    name: 'unsubscribe',
    params: Type.Object({ topic: TopicParam }),
    handler: ({ topic }, ctx) => {
      const name = topicName(topic)
      if (!topics(ctx).unsubscribe(name, ctx.session)) throw notFound(`not subscribed to topic ${JSON.stringify(topic.slice(0, 100))}`)
      closeCleanups(ctx.session).get(name)?.()
      closeCleanups(ctx.session).delete(name)
      return null
    },
  }),
  defineMethod({
    name: 'publish',
    params: Type.Object({ topic: TopicParam, data: Type.Unknown() }),
    handler: async ({ topic, data }, ctx) => {
      if (data === undefined) throw badRequest('data: missing (any JSON value)')
      await topics(ctx).publish(topicName(topic), data)
      return null
    },
  }),
  defineMethod({
    name: 'listpeers',
    params: Type.Object({ topic: TopicParam }),
    handler: ({ topic }, ctx) => ({ peers: topics(ctx).listPeers(topicName(topic)) }),
  }),
]
