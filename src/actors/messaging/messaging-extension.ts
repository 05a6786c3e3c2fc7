import type { NodeRef } from '../../machines/actor-refs.ts'
import type { NodeComponents } from '../node/node-runtimes.ts'
import { type MessagingDeps, type MessagingOptions, MessagingService } from './messaging.ts'

export interface MessagingServiceDeps extends Pick<MessagingDeps, 'reputation' | 'activity'> {
  options: MessagingOptions
  /** Reach a peer through local node `alias`'s peer actor (see MessagingDeps.connect). */
  connect(alias: string, peerId: string, signal: AbortSignal): ReturnType<MessagingDeps['connect']>
  lastDialError(alias: string, peerId: string): string | undefined
  /** The node actor of local node `alias`: it spawns the channel actors. */
  nodeRef(alias: string): NodeRef | undefined
}

/** The node service factory: every local node gets its direct-message service, dialling through its peer actors, its channels actors under its node actor. */
export const messagingService =
  (deps: MessagingServiceDeps) =>
  ({ alias, libp2p }: Pick<NodeComponents, 'alias' | 'libp2p'>): MessagingService =>
    new MessagingService(
      {
        alias,
        libp2p,
        connect: (peerId, signal) => deps.connect(alias, peerId, signal),
        lastDialError: (peerId) => deps.lastDialError(alias, peerId),
        node: () => deps.nodeRef(alias),
        reputation: deps.reputation,
        activity: deps.activity,
      },
      deps.options,
    )
