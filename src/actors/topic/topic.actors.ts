import type { PeerId } from '@libp2p/interface'
import { fromCallback, fromPromise } from 'xstate'
import { actorLookup } from '../../machines/actor-refs.ts'
import type { TopicEvent } from '../../machines/topic/topic.types.ts'
import { topicCid } from '../../p2p/topic-cid.ts'
import { enqueueDhtOp } from '../dht/dht-queue.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'
import { JoinWhenSendable } from './join-when-sendable.ts'

/** The topic machine's side effects, bound to the live runtimes. */
export function topicActors(runtimes: NodeRuntimes) {
  return {
    join: fromPromise<string[], { alias: string; topic: string }>(async ({ input }) => {
      const pubsub = runtimes.handle(input.alias).libp2p.services.pubsub
      pubsub.subscribe(input.topic)
      return pubsub.getSubscribers(input.topic).map(String)
    }),

    leave: fromPromise<void, { alias: string; topic: string }>(async ({ input }) => {
      runtimes.get(input.alias)?.handle?.libp2p.services.pubsub.unsubscribe(input.topic)
    }),

    watchTopic: fromCallback<TopicEvent, { alias: string; topic: string }>(({ input, sendBack }) => {
      const libp2p = runtimes.handle(input.alias).libp2p
      const pubsub = libp2p.services.pubsub
      const joins = new JoinWhenSendable(pubsub, (peerId) => sendBack({ type: 'topic.peerJoined', peerId }))
      const left = (peerId: string) => {
        joins.cancel(peerId)
        sendBack({ type: 'topic.peerLeft', peerId })
      }
      const onChange = (e: CustomEvent<{ peerId: PeerId; subscriptions: Array<{ topic: string; subscribe: boolean }> }>) => {
        for (const s of e.detail.subscriptions) {
          if (s.topic !== input.topic) continue
          if (s.subscribe) joins.add(e.detail.peerId.toString())
          else left(e.detail.peerId.toString())
        }
      }
      // GossipSub drops a disconnected peer from its topics without a subscription event
      const onDisconnect = (e: CustomEvent<PeerId>) => left(e.detail.toString())
      pubsub.addEventListener('subscription-change', onChange as never)
      libp2p.addEventListener('peer:disconnect', onDisconnect)
      // subscribers that arrived between join and now
      for (const p of pubsub.getSubscribers(input.topic)) joins.add(p.toString())
      return () => {
        joins.stop()
        pubsub.removeEventListener('subscription-change', onChange as never)
        libp2p.removeEventListener('peer:disconnect', onDisconnect)
      }
    }),

    discover: fromCallback<TopicEvent, { alias: string; topic: string; reprovideMs: number }>(({ input, system }) => {
      const controller = new AbortController()
      const { signal } = controller
      const { alias } = input
      const actors = actorLookup(system)
      const dht = actors.dht(alias)
      const node = actors.node(alias)
      const libp2p = runtimes.handle(alias).libp2p
      const { addressBook, activity } = runtimes.shared
      let timer: ReturnType<typeof setTimeout> | undefined
      const report = (err: unknown) => {
        if (!signal.aborted) activity.add({ type: 'error', alias, message: `topic ${input.topic} discovery: ${(err as Error).message}` })
      }
      const provide = async () => {
        const cid = await topicCid(input.topic)
        if (!dht || signal.aborted) return
        await enqueueDhtOp(dht, { kind: 'provide', key: cid.toString() }, signal).catch(report)
        if (!signal.aborted) timer = setTimeout(() => void provide(), input.reprovideMs)
      }
      const lookUp = async () => {
        const cid = await topicCid(input.topic)
        if (!dht || !node || signal.aborted) return
        const providers = await enqueueDhtOp(dht, { kind: 'findProviders', key: cid.toString(), limit: 20 }, signal).catch(
          (err: unknown) => {
            report(err)
            return []
          },
        )
        const backoff = node.getSnapshot().context.backoff
        for (const p of providers) {
          if (signal.aborted) return
          for (const addr of p.addrs) addressBook.add(addr, { peerId: p.peerId, source: 'dht' })
          if (libp2p.getConnections().some((c) => c.remotePeer.toString() === p.peerId)) continue
          node.send({
            type: 'peers.route',
            peerId: p.peerId,
            spawn: true,
            input: { alias, peerId: p.peerId, backoff },
            event: { type: 'peer.connect' },
          })
        }
      }
      void provide()
      void lookUp()
      return () => {
        controller.abort(new Error(`topic ${input.topic} left`))
        clearTimeout(timer)
      }
    }),
  }
}
