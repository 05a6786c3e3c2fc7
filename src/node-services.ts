/**
 * The one place that says which services every local node runs, in start order. A new node service
 * is a factory `(deps) => (components: Pick<NodeComponents, ...>) => Service` registered here; its
 * type joins NodeServices, so `nodes.services(alias).<name>` is typed with no cast.
 */
import type { ActivityLog } from './actors/activity-log.ts'
import { type FilesDeps, filesService } from './actors/files/files.ts'
import { messagingService } from './actors/messaging/messaging-extension.ts'
import type { NodeServiceFactories } from './actors/node/node-runtimes.ts'
import type { PeerControl } from './actors/peer/peer-control.ts'
import type { PresenceFeed } from './actors/presence/presence-feed.ts'
import { pairingService } from './actors/pairing/pairing-service.ts'
import { presenceService } from './actors/presence/presence.extension.ts'
import { protectionService } from './actors/protection/protection.extension.ts'
import { syncService } from './actors/sync/sync.ts'
import { gossipHubService } from './actors/topic/gossip-hub.ts'
import { topicsService } from './actors/topic/topics-extension.ts'
import type { Config } from './config.ts'
import { type ActorLookup, actorLookup, type NodeRef } from './machines/actor-refs.ts'
import type { AddressBook } from './p2p/address-book.ts'
import type { Reputation } from './p2p/reputation.ts'

export interface NodeServiceDeps {
  config: Config
  addressBook: AddressBook
  reputation: Reputation
  activity: ActivityLog
  presence: PresenceFeed
  sharedFiles: FilesDeps['shared']
  /** Late-bound: the peer control and node actors exist only once the actor system runs. */
  peers: () => PeerControl
  /** Whether `peerId` is a known peer of local node `alias`: who sync answers and tells of changes. */
  isKnown: (alias: string, peerId: string) => boolean
  /** Known (paired) or added to local node `alias`, or one of our own local nodes: who `fileAccess: known` serves. */
  knownAddedOrLocal: (alias: string, peerId: string) => boolean
  nodeRef: (alias: string) => NodeRef | undefined
  log: (msg: string) => void
}

export function nodeServiceFactories(d: NodeServiceDeps) {
  const { config: c, reputation, activity } = d
  /** A node's presence or pruner actor, looked up when asked (they exist only while it runs). */
  const keeper = <K extends 'presence' | 'pruner'>(alias: string, kind: K) => {
    const node = d.nodeRef(alias)
    return node && (actorLookup(node.system)[kind](alias) as ReturnType<ActorLookup[K]>)
  }
  return {
    topics: topicsService({ meshTimeoutMs: c.topicMeshTimeoutMs, reprovideMs: c.topicReprovideMs, nodeRef: d.nodeRef }),
    gossipHub: gossipHubService({
      mode: c.gossipHub,
      maxTopics: c.gossipHubMaxTopics,
      meshTimeoutMs: c.topicMeshTimeoutMs,
      reprovideMs: c.topicReprovideMs,
      nodeRef: d.nodeRef,
      log: d.log,
    }),
    files: filesService({
      config: {
        shardSplitThresholdBytes: c.fileShardSplitThresholdBytes,
        getFileTimeoutMs: c.getFileTimeoutMs,
        getFileFallbackTimeoutMs: c.getFileFallbackTimeoutMs,
        listFilesTimeoutMs: c.listFilesTimeoutMs,
        frameMaxBytes: c.fileFrameMaxBytes,
        updateNotifyTopic: c.fileUpdateNotifyTopic,
        uploadIdleMs: c.fileUploadIdleMs,
        maxFileBytes: c.fileMaxBytes,
        peerQuotaBytes: c.filePeerQuotaBytes,
        totalQuotaBytes: c.fileTotalQuotaBytes,
      },
      shared: d.sharedFiles,
      reputation,
      activity,
      ...(c.fileAccess === 'known' ? { mayRead: d.knownAddedOrLocal } : {}),
      log: d.log,
    }),
    sync: syncService({
      settings: {
        requestTimeoutMs: c.dialTimeoutMs,
        stallTimeoutMs: c.getFileFallbackTimeoutMs,
        maxReplicaBytes: c.filePeerQuotaBytes,
      },
      isKnown: d.isKnown,
      onChanged: (alias, peerId) => d.peers().ref(alias, peerId)?.send({ type: 'peer.filesChanged' }),
      reputation,
      activity,
      log: d.log,
    }),
    messaging: messagingService({
      options: {
        retryWindowMs: c.messageRetryWindowMs,
        idleMs: c.messageIdleMs,
        queueLimit: c.messageQueueLimit,
        inboundBurst: c.peerMessageBurst,
        inboundPerSecond: c.peerMessagesPerSecond,
        streamTimeoutMs: c.dialTimeoutMs,
      },
      connect: (alias, peerId, signal) => d.peers().connect(alias, peerId, signal),
      lastDialError: (alias, peerId) => d.peers().ref(alias, peerId)?.getSnapshot().context.lastError ?? undefined,
      nodeRef: d.nodeRef,
      reputation,
      activity,
    }),
    protection: protectionService({
      isProtected: (alias, peerId) => d.peers().isProtected(alias, peerId),
      activity,
      actor: (alias) => keeper(alias, 'pruner'),
    }),
    pairing: pairingService({
      settings: {
        defaultTtlSeconds: c.pairingTtlSeconds,
        handshakeTimeoutMs: c.pairingHandshakeTimeoutMs,
        maxWrongProofs: c.pairingMaxWrongProofs,
        allowLoopback: c.allowLoopbackAddresses,
      },
      reputation,
      nodeRef: d.nodeRef,
      log: d.log,
    }),
    presence: presenceService({
      reputation,
      activity,
      addressBook: d.addressBook,
      feed: d.presence,
      settings: { defaultTtlSeconds: c.presenceTtlSeconds },
      actor: (alias) => keeper(alias, 'presence'),
    }),
  }
}

type Factories = ReturnType<typeof nodeServiceFactories>
/** Every local node's services, by name. */
export type NodeServices = { [K in keyof Factories]: Awaited<ReturnType<Factories[K]>> }

// the registry must build exactly the services it names
const _typed: (d: NodeServiceDeps) => NodeServiceFactories<NodeServices> = nodeServiceFactories
void _typed
