import type { NodeComponents } from '../node/node-runtimes.ts'
import { type MessagingDeps, type MessagingOptions, MessagingService } from './messaging.ts'

export interface MessagingServiceDeps extends Pick<MessagingDeps, 'reputation' | 'activity'> {
  options: MessagingOptions
  /** Reach a peer through local node `alias`'s peer actor (see MessagingDeps.connect). */
  connect(alias: string, peerId: string, signal: AbortSignal): ReturnType<MessagingDeps['connect']>
  lastDialError(alias: string, peerId: string): string | undefined
}

/** The node service factory: every local node gets its direct-message service, dialling through its peer actors. */
export const messagingService =
  (deps: MessagingServiceDeps) =>
  ({ alias, libp2p }: Pick<NodeComponents, 'alias' | 'libp2p'>): MessagingService =>
    new MessagingService(
      {
        alias,
        libp2p,
        connect: (peerId, signal) => deps.connect(alias, peerId, signal),
        lastDialError: (peerId) => deps.lastDialError(alias, peerId),
        reputation: deps.reputation,
        activity: deps.activity,
      },
      deps.options,
    )
