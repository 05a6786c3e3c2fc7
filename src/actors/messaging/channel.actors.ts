import { fromPromise } from 'xstate'
import type { ChannelContext, OpenResult } from '../../machines/channel/channel.types.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'
import type { Channel } from './channel.ts'
import { MessagingService } from './messaging.ts'

type ChannelKey = Pick<ChannelContext, 'alias' | 'peerId' | 'protocol'>

/** Where a channel actor finds the data side of its channel (queue, streams); undefined once it is gone. */
export type FindChannel = (key: ChannelKey) => Channel | undefined

/** The channel machine's side effects, over the channels `find` reaches. */
export function channelEffects(find: FindChannel) {
  return {
    actors: {
      openStream: fromPromise<OpenResult, ChannelKey>(async ({ input, signal }) => {
        const channel = find(input)
        if (!channel) throw new Error(`local peer ${input.alias} has no channel to ${input.peerId} on ${input.protocol}`)
        return channel.open(signal)
      }),
    },
    actions: {
      pump: ({ context }: { context: ChannelContext }) => {
        void find(context)?.pump()
      },
      sweepStreams: ({ context }: { context: ChannelContext }) => find(context)?.sweep(),
      failAll: ({ context }: { context: ChannelContext }, { reason }: { reason: string }) => find(context)?.failAll(reason),
      closeAll: ({ context }: { context: ChannelContext }, { reason }: { reason: string }) => find(context)?.close(reason),
      release: ({ context }: { context: ChannelContext }) => {
        const channel = find(context)
        channel?.host.release(channel)
      },
    },
  }
}

/** Channels of the running nodes: each node's messaging service holds its own. */
export function runtimeChannels(runtimes: NodeRuntimes): FindChannel {
  return ({ alias, peerId, protocol }) => {
    const messaging = runtimes.get(alias)?.services?.messaging
    return messaging instanceof MessagingService ? messaging.channelOf(peerId, protocol) : undefined
  }
}
