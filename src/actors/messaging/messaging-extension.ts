import type { Switchboard } from '../../switchboard.ts'
import type { NodeExtensionFactory } from '../node/node-runtimes.ts'
import { MESSAGING_EXTENSION, MessagingService } from './messaging.ts'

/** The node extension: every local node gets its direct-message service, dialling through its peer actors. */
export function messagingExtension(sb: Switchboard): NodeExtensionFactory {
  return (runtime) => {
    const handle = runtime.handle
    if (!handle) throw new Error(`local node ${runtime.spec.alias} has no handle`)
    const alias = runtime.spec.alias
    return new MessagingService(
      {
        alias,
        libp2p: handle.libp2p,
        connect: (peerId, signal) => sb.peers.connect(alias, peerId, signal),
        lastDialError: (peerId) => sb.peers.ref(alias, peerId)?.getSnapshot().context.lastError ?? undefined,
        reputation: sb.services.reputation,
        activity: sb.services.activity,
      },
      {
        retryWindowMs: sb.config.messageRetryWindowMs,
        idleMs: sb.config.messageIdleMs,
        queueLimit: sb.config.messageQueueLimit,
        inboundBurst: sb.config.peerMessageBurst,
        inboundPerSecond: sb.config.peerMessagesPerSecond,
        streamTimeoutMs: sb.config.dialTimeoutMs,
      },
    )
  }
}

/** The direct-message service of a running local peer (503 when it is not running). */
export function messagingOf(sb: Switchboard, alias: string): MessagingService {
  return sb.runtimes.extension<MessagingService>(alias, MESSAGING_EXTENSION)
}
