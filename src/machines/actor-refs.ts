import type { ActorRefFrom, ActorSystem, AnyActorRef } from 'xstate'
import type { channelMachine } from './channel/channel.machine.ts'
import {
  type ChannelId,
  type DhtId,
  type NodeId,
  type PairingId,
  type PeerId,
  type PeersId,
  type PresenceId,
  type PrunerId,
  type RelayId,
  systemIds,
  type TopicId,
} from './actor-ids.ts'
import type { dhtMachine } from './dht/dht.machine.ts'
import type { nodeMachine } from './node/node.machine.ts'
import type { pairingMachine } from './pairing/pairing.machine.ts'
import type { peerMachine } from './peer/peer.machine.ts'
import type { peersMachine } from './peers/peers.machine.ts'
import type { presenceMachine } from './presence/presence.machine.ts'
import type { prunerMachine } from './pruner/pruner.machine.ts'
import type { relayMachine } from './relay/relay.machine.ts'
import type { supervisorMachine } from './supervisor/supervisor.machine.ts'
import type { topicMachine } from './topic/topic.machine.ts'

export type SupervisorRef = ActorRefFrom<typeof supervisorMachine>
export type NodeRef = ActorRefFrom<typeof nodeMachine>
export type DhtRef = ActorRefFrom<typeof dhtMachine>
export type PeersRef = ActorRefFrom<typeof peersMachine>
export type PeerRef = ActorRefFrom<typeof peerMachine>
export type TopicRef = ActorRefFrom<typeof topicMachine>
export type PresenceRef = ActorRefFrom<typeof presenceMachine>
export type PrunerRef = ActorRefFrom<typeof prunerMachine>
export type ChannelRef = ActorRefFrom<typeof channelMachine>
export type PairingRef = ActorRefFrom<typeof pairingMachine>
export type RelayRef = ActorRefFrom<typeof relayMachine>

/** What each systemId of the scheme (actor-ids.ts) holds: the one statement of id → machine. */
export interface SwitchboardSystem {
  actors: {
    supervisor: SupervisorRef
    [id: NodeId]: NodeRef
    [id: DhtId]: DhtRef
    [id: PeersId]: PeersRef
    [id: PeerId]: PeerRef
    [id: TopicId]: TopicRef
    [id: PresenceId]: PresenceRef
    [id: PrunerId]: PrunerRef
    [id: ChannelId]: ChannelRef
    [id: PairingId]: PairingRef
    [id: RelayId]: RelayRef
  }
}

/** Only `get` is needed: lookups read the system, never change it. */
type SystemReader = Pick<AnyActorRef['system'], 'get'>

/** The live actor behind a systemId, typed by the scheme; undefined when none runs under it. */
export function actorLookup(anySystem: SystemReader) {
  // XState types every system as ActorSystem<any>; this is where the scheme gives it its real shape
  const system: Pick<ActorSystem<SwitchboardSystem>, 'get'> = anySystem
  return {
    supervisor: () => system.get(systemIds.supervisor),
    node: (alias: string) => system.get(systemIds.node(alias)),
    dht: (alias: string) => system.get(systemIds.dht(alias)),
    peers: (alias: string, shard: number) => system.get(systemIds.peers(alias, shard)),
    peer: (alias: string, peerId: string) => system.get(systemIds.peer(alias, peerId)),
    topic: (alias: string, topic: string) => system.get(systemIds.topic(alias, topic)),
    presence: (alias: string) => system.get(systemIds.presence(alias)),
    pruner: (alias: string) => system.get(systemIds.pruner(alias)),
    relay: (alias: string) => system.get(systemIds.relay(alias)),
    channel: (alias: string, peerId: string, protocol: string) => system.get(systemIds.channel(alias, peerId, protocol)),
    pairing: (alias: string, pairingId: string) => system.get(systemIds.pairing(alias, pairingId)),
  }
}

export type ActorLookup = ReturnType<typeof actorLookup>
