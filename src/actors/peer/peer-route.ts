import type { AnyActorRef } from 'xstate'
import { shardOf, systemIds } from '../../machines/actor-ids.ts'
import type { PeerRef } from '../../machines/actor-refs.ts'
import type { NodeEvent } from '../../machines/node/node.types.ts'
import type { PeerEvent, PeerInput } from '../../machines/peer/peer.types.ts'
import type { PeersEvent } from '../../machines/peers/peers.types.ts'

type Lookup = Pick<AnyActorRef['system'], 'get'>

function shardRef(system: Lookup, alias: string, peerId: string): AnyActorRef | undefined {
  return system.get(systemIds.peers(alias, shardOf(peerId)))
}

/**
 * Hands libp2p-derived events to peers' actors for one node's watch (peer-events.ts): straight to a
 * peer's actor when it runs, else straight to its shard when that runs (which spawns it), else through
 * the node (`peers.route`), which spawns the shard first. The node only forwards to a shard that
 * exists, so going through it costs a machine step per event (and its inspection) for nothing; through
 * the shard too when the actor exists: with 100k peers that was two thirds of the cost of an event and
 * a third of a spawn (bench/peer-actors.ts). Order per peer holds: libp2p emits from I/O callbacks,
 * when no actor is mid-step (every mailbox is empty), so a routed event has been processed by the time
 * the next one looks the actor up.
 *
 * The refs it finds are kept by peer id and shard number: `system.get` takes the systemId, a 63-character string built per event, which V8
 * flattens and hashes on every call before probing a map of every actor (~2 µs an event at 100k peer
 * actors, measured; a lookup by the libp2p peer id, whose hash its string keeps, ~0.2 µs). A kept ref
 * is used only while it runs; a stopped one is looked up again. Made per watch, so what it keeps goes
 * when the node stops; a release through it drops the peer's entry, and a peer released elsewhere
 * (forgotten through the node) keeps its stopped actor here until it is next routed or the node stops.
 */
export class PeerRoutes {
  readonly #peers = new Map<string, PeerRef>()
  readonly #shards: (AnyActorRef | undefined)[] = []

  constructor(
    readonly system: Lookup,
    readonly alias: string,
    readonly sendBack: (event: NodeEvent) => void,
  ) {}

  /** The peer's running actor, if it has one. */
  peer(peerId: string): PeerRef | undefined {
    const kept = this.#peers.get(peerId)
    if (kept !== undefined && kept.getSnapshot().status === 'active') return kept
    const ref = this.system.get(systemIds.peer(this.alias, peerId)) as PeerRef | undefined
    if (ref !== undefined) this.#peers.set(peerId, ref)
    else if (kept !== undefined) this.#peers.delete(peerId)
    return ref
  }

  /** An event for the peer's actor; `spawn`: the actor may be made for it (else, without an actor, the event is dropped). */
  route(input: PeerInput, event: PeerEvent | undefined, spawn: boolean): void {
    if (event !== undefined) {
      const ref = this.peer(input.peerId)
      if (ref !== undefined) {
        ref.send(event)
        return
      }
    }
    const shard = this.#shard(input.peerId)
    // no actor and none to spawn: its shard would drop the event (a node without that shard spawns it)
    if (shard !== undefined && !spawn) return
    const systemId = systemIds.peer(this.alias, input.peerId)
    const routed: PeersEvent = { type: 'peers.route', peerId: input.peerId, spawn, input, systemId, ...(event ? { event } : {}) }
    if (shard === undefined) {
      this.sendBack(routed)
      return
    }
    shard.send(routed)
    // spawned by now (nothing is mid-step when libp2p emits) and registered under this very string,
    // which keeps its hash: a cheap lookup, so the peer's next event finds its actor kept
    const ref = this.system.get(systemId) as PeerRef | undefined
    if (ref !== undefined) this.#peers.set(input.peerId, ref)
  }

  /** Stop the peer's actor (`peers.release`): to its shard when that runs, else through the node (which has nothing to release). */
  release(peerId: string): void {
    this.#peers.delete(peerId)
    const release: PeersEvent = { type: 'peers.release', peerId }
    const shard = this.#shard(peerId)
    if (shard !== undefined) shard.send(release)
    else this.sendBack(release)
  }

  #shard(peerId: string): AnyActorRef | undefined {
    const n = shardOf(peerId)
    const kept = this.#shards[n]
    if (kept !== undefined && kept.getSnapshot().status === 'active') return kept
    const ref = shardRef(this.system, this.alias, peerId)
    this.#shards[n] = ref
    return ref
  }
}
