import type { TSchema } from '@sinclair/typebox'
import type { AnyStateMachine } from 'xstate'
import { parseSystemId } from './actor-ids.ts'
import { channelMachine, channelPublicContext } from './channel/channel.machine.ts'
import { ChannelClientEventSchema } from './channel/channel.types.ts'
import { dhtMachine, dhtPublicContext } from './dht/dht.machine.ts'
import { DhtClientEventSchema } from './dht/dht.types.ts'
import { nodeMachine, nodePublicContext } from './node/node.machine.ts'
import { NodeClientEventSchema } from './node/node.types.ts'
import { pairingMachine, pairingPublicContext } from './pairing/pairing.machine.ts'
import { PairingClientEventSchema } from './pairing/pairing.types.ts'
import { peerMachine, peerPublicContext } from './peer/peer.machine.ts'
import { PeerClientEventSchema } from './peer/peer.types.ts'
import { peersMachine, peersPublicContext } from './peers/peers.machine.ts'
import { presenceMachine, presencePublicContext } from './presence/presence.machine.ts'
import { PresenceClientEventSchema } from './presence/presence.types.ts'
import { prunerMachine, prunerPublicContext } from './pruner/pruner.machine.ts'
import { PrunerClientEventSchema } from './pruner/pruner.types.ts'
import { relayMachine, relayPublicContext } from './relay/relay.machine.ts'
import { RelayClientEventSchema } from './relay/relay.types.ts'
import { PeersClientEventSchema } from './peers/peers.types.ts'
import { topicMachine, topicPublicContext } from './topic/topic.machine.ts'
import { TopicClientEventSchema } from './topic/topic.types.ts'
import { supervisorMachine, supervisorPublicContext } from './supervisor/supervisor.machine.ts'
import { SupervisorClientEventSchema } from './supervisor/supervisor.types.ts'

export interface MachineKind {
  kind: string
  machine: AnyStateMachine
  description: string
  /** JSON-safe, secret-free view of a context; the only form a context leaves the process in. */
  project: (context: never) => unknown
  /** Events a client may send with `actors.send`; anything else is refused. */
  clientEvents: TSchema
}

/** Every kind of long-lived actor, in the order the tree nests them. */
export const machineKinds: MachineKind[] = [
  {
    kind: 'supervisor',
    machine: supervisorMachine,
    description:
      'The root of the actor tree. It starts and stops local nodes (peer-a at daemon start, a session peer per browser connection that asks), restarts a crashed node up to its restart limit, and on shutdown waits until every node has stopped.',
    project: supervisorPublicContext,
    clientEvents: SupervisorClientEventSchema,
  },
  {
    kind: 'node',
    machine: nodeMachine,
    description:
      'One local libp2p + Helia node. It builds the node and its stores while starting, spawns its DHT actor once running, and on stop rejects queued DHT operations before closing libp2p, Helia and the stores. A node that cannot start or crashes ends in failed with the reason.',
    project: nodePublicContext,
    clientEvents: NodeClientEventSchema,
  },
  {
    kind: 'dht',
    machine: dhtMachine,
    description:
      'The Kad-DHT of one node and its operation queue. Bootstrapping dials the bootstrap peers until the routing table holds a peer (ready, which is dhtReady) or the bootstrap timeout passes with an empty table (degraded; a newly connected peer retries at once, and the bootstrap is tried again after 5 s, doubling up to 60 s). Operations enqueued before ready wait in order and drain with bounded concurrency; the queue is bounded and everything in it is rejected on stop.',
    project: dhtPublicContext,
    clientEvents: DhtClientEventSchema,
  },
  {
    kind: 'presence',
    machine: presenceMachine,
    description:
      "Presence of one node on the presence topic. silent until a client announces it; announcing publishes the node's signed record (publishing), then waits and re-publishes at half the record's lifetime (at most a minute), sooner when peers newly subscribe (greeting gathers them for 200 ms; one not reached is greeted again, up to 10 times). Its watch keeps the other peers' validly signed, unexpired records (a forged one costs its author reputation) and counts them as online. Stopped with its node; an announce still waiting is refused.",
    project: presencePublicContext,
    clientEvents: PresenceClientEventSchema,
  },
  {
    kind: 'pruner',
    machine: prunerMachine,
    description:
      "The connection pruner of one node. idle while connections are at or below the high watermark (maxConnections); a connection above it starts pruning: one round closes the lowest-value connections (peer-store tag values, then fewest streams, inbound first, newest first) down to the low watermark, never an added or known peer's and never one younger than pruneGraceMs. Rounds never overlap; one asked for during a round runs right after. A round that spared young connections waits in grace until the youngest matures, then looks again.",
    project: prunerPublicContext,
    clientEvents: PrunerClientEventSchema,
  },
  {
    kind: 'relay',
    machine: relayMachine,
    description:
      "The circuit relay (v2) server of the persistent node, so browsers and peers behind NAT can be reached through it and two browser tabs can meet and upgrade to WebRTC. idle: nobody holds a reservation; reserved: peers hold reservations (their /p2p-circuit addresses go through this node); relaying: at least one relayed connection is open. Reservations, open circuits and circuits since start are sampled from libp2p's relay service; the limits (reservations, reservation lifetime, duration and data per relayed connection) come from the config. Peers with a reservation are protected from the pruner.",
    project: relayPublicContext,
    clientEvents: RelayClientEventSchema,
  },
  {
    kind: 'peers',
    machine: peersMachine,
    description:
      "One shard of a node's remote-peer actors (peers are spread over 2048 shards by a hash of their id, because spawning and stopping under one parent slow with its number of children). It spawns a peer actor on a peer's first connection or when a client names it, routes events to it, and releases it when the peer is forgotten or, neither known nor added, disconnects.",
    project: peersPublicContext,
    clientEvents: PeersClientEventSchema,
  },
  {
    kind: 'peer',
    machine: peerMachine,
    description:
      'One remote peer as seen from one local node. An explicit connect tries a few times a fixed pause apart, then fails with lastError; a wanted peer (added with addpeers, or known with autoConnect) is retried with capped exponential backoff and jitter for as long as it stays wanted. Incoming connections move it too, and connectionType follows the best live connection (direct over webrtc over relay). A client disconnect holds it until the next connect.',
    project: peerPublicContext,
    clientEvents: PeerClientEventSchema,
  },
  {
    kind: 'topic',
    machine: topicMachine,
    description:
      "One GossipSub topic of one local node, shared by every connection subscribed to it (reference-counted). Joining subscribes; meshForming waits until a topic peer appears or the mesh timeout passes, never holding other requests; subscribed tracks joins and leaves from GossipSub's subscription events and disconnects (pushed as peerChange), provides the topic's CID on the DHT (renewed before it expires) and dials the providers it finds once; the last connection's release leaves.",
    project: topicPublicContext,
    clientEvents: TopicClientEventSchema,
  },
  {
    kind: 'channel',
    machine: channelMachine,
    description:
      "Direct messages between one local node and one remote peer on one protocol, in either direction (spawned by its node on the first message or inbound stream). idle: nothing waits; opening: messages wait and a stream is being opened, dialling the peer through its peer actor; open: a stream (ours or the remote's) carries them in order and each waits for its ack; retrying: the peer was unreachable or the stream broke, so it waits out a capped exponential backoff (cut short when the peer connects or opens a stream) while each message is given up with delivered: false once it has waited messageRetryWindowMs. An outbound stream idle for messageIdleMs is closed; a channel with no stream and nothing waiting is forgotten (closed) after the longer of the two. The context holds no payloads.",
    project: channelPublicContext,
    clientEvents: ChannelClientEventSchema,
  },
  {
    kind: 'pairing',
    machine: pairingMachine,
    description:
      "One pairing of two devices by ticket, from one side (spawned by its node on pairing.create or pairing.join). The initiator made the ticket: waiting for a joiner, verifying its proof of the ticket's secret (challenge and response; the secret is never sent and never in the context), confirming, saving the joiner as a known peer; it expires ttlMs after creation, and maxWrongProofs wrong proofs cancel it, each costing its sender reputation. The joiner dials the ticket's addresses, handshakes (proves the secret, checks the initiator's proof, exchanges names, confirms) and saves the initiator as a known peer. Final: paired, expired, cancelled, or failed with failure and error.",
    project: pairingPublicContext,
    clientEvents: PairingClientEventSchema,
  },
]

export function kindOfSystemId(systemId: string): MachineKind | undefined {
  const kind = parseSystemId(systemId)?.kind
  return kind && machineKinds.find((k) => k.kind === kind)
}
