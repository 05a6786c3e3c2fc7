import { createActor } from 'xstate'
import { systemIds } from '../../machines/actor-ids.ts'
import type { SupervisorRef } from '../../machines/actor-refs.ts'
import { channelMachine } from '../../machines/channel/channel.machine.ts'
import { dhtMachine } from '../../machines/dht/dht.machine.ts'
import { nodeMachine } from '../../machines/node/node.machine.ts'
import { pairingMachine } from '../../machines/pairing/pairing.machine.ts'
import { peerMachine } from '../../machines/peer/peer.machine.ts'
import { peersMachine } from '../../machines/peers/peers.machine.ts'
import { presenceMachine } from '../../machines/presence/presence.machine.ts'
import { prunerMachine } from '../../machines/pruner/pruner.machine.ts'
import { relayMachine } from '../../machines/relay/relay.machine.ts'
import { topicMachine } from '../../machines/topic/topic.machine.ts'
import { reportStoppedToSupervisor, supervisorMachine } from '../../machines/supervisor/supervisor.machine.ts'
import { dhtActors } from '../dht/dht.actors.ts'
import { channelEffects, runtimeChannels } from '../messaging/channel.actors.ts'
import { nodeActors } from '../node/node.actors.ts'
import type { NodeRuntimes } from '../node/node-runtimes.ts'
import type { PairingEffects } from '../pairing/pairing.actors.ts'
import { peerActors, type SyncRunner } from '../peer/peer.actors.ts'
import { presenceActors } from '../presence/presence.actors.ts'
import { prunerActors } from '../protection/pruner.actors.ts'
import { relayActors } from '../relay/relay.actors.ts'
import { watchPeersActor } from '../peer/peer-events.ts'
import { topicActors } from '../topic/topic.actors.ts'
import { ActorRegistry } from './actor-registry.ts'

/** The machines with their real side effects bound: the one place where pure meets I/O. */
export interface BoundEffects {
  /** Syncs a known peer's directory (the node's sync service). */
  sync?: SyncRunner
  /** Dial, handshake and remember for pairings (the node's pairing service). */
  pairing?: PairingEffects
}

export function bindMachines(runtimes: NodeRuntimes, effects: BoundEffects = {}) {
  const dht = dhtMachine.provide({ actors: dhtActors(runtimes) })
  const peer = peerMachine.provide({
    actors: peerActors(runtimes, effects.sync),
    actions: {
      persist: ({ context }) => {
        const known = runtimes.get(context.alias)?.knownPeers
        if (!known) return
        // a failed write (disk full, permissions) is reported, never left to crash the process
        const report = (err: Error) =>
          runtimes.shared.activity.add({
            type: 'error',
            alias: context.alias,
            peerId: context.peerId,
            message: `cannot save known peers: ${err.message}`,
          })
        if (!context.known) {
          known.remove(context.peerId).catch(report)
          return
        }
        known
          .upsert({
            peerId: context.peerId,
            name: context.name,
            ...(context.ticket !== null ? { ticket: context.ticket } : {}),
            addedAt: context.addedAt ?? Date.now(),
            lastSyncAt: context.lastSyncAt,
            autoConnect: context.autoConnect,
          })
          .catch(report)
      },
    },
  })
  const peers = peersMachine.provide({ actors: { peer } })
  const topic = topicMachine.provide({ actors: topicActors(runtimes) })
  const presence = presenceMachine.provide({ actors: presenceActors(runtimes) })
  const pruner = prunerMachine.provide({ actors: prunerActors(runtimes) })
  const relay = relayMachine.provide({ actors: relayActors(runtimes) })
  const channel = channelMachine.provide(channelEffects(runtimeChannels(runtimes)))
  const pairing = effects.pairing ? pairingMachine.provide(effects.pairing) : pairingMachine
  const node = nodeMachine.provide({
    actors: {
      ...nodeActors(runtimes),
      watchPeers: watchPeersActor(runtimes),
      dht,
      peers,
      topic,
      channel,
      presence,
      pruner,
      pairing,
      relay,
    },
    actions: {
      reportStopped: reportStoppedToSupervisor,
    },
  })
  return supervisorMachine.provide({ actors: { node } })
}

/** Start the actor system: the supervisor at its root, every actor visible through the registry. */
export function startSystem(
  runtimes: NodeRuntimes,
  opts: { restartLimit?: number } & BoundEffects = {},
): { supervisor: SupervisorRef; registry: ActorRegistry } {
  const registry = new ActorRegistry()
  const { restartLimit: _limit, ...effects } = opts
  const supervisor = createActor(bindMachines(runtimes, effects), {
    systemId: systemIds.supervisor,
    input: { restartLimit: opts.restartLimit ?? 3 },
    inspect: registry.inspect,
  })
  supervisor.start()
  return { supervisor: supervisor.ref, registry }
}
