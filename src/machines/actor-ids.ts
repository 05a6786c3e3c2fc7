/**
 * The actor id scheme, in one place. A systemId names an actor daemon-wide and is part of the wire
 * protocol (docs/protocol.md "Actors"), so these builders must produce the documented strings byte
 * for byte; a child id names an actor only under its parent (what `spawnChild`, `sendTo` and
 * `stopChild` take). Pure: no imports, so every machine may use it.
 */

/**
 * Peers of one node are spread over this many shard actors (spawned on first use): XState copies a
 * parent's children object on every spawn and stop (and once a child was stopped, V8 copies it at
 * O(children²)), so both slow with the number of children. 64 shards held 1.5k peers each at 100k
 * peers; 2048 keep it near 50. At 60k peers (bench/peer-actors.ts, CPU s spawn + release): 1024
 * shards 8.2 + 11.3, 2048 8.3 + 7.0, 4096 12.1 + 5.2 (the node's own children then dominate).
 */
export const PEER_SHARDS = 2048

/** Which shard holds a peer: a stable hash of its id. */
export function shardOf(peerId: string): number {
  let h = 0
  for (let i = 0; i < peerId.length; i++) h = (Math.imul(h, 31) + peerId.charCodeAt(i)) | 0
  return (h >>> 0) % PEER_SHARDS
}

export type SupervisorId = 'supervisor'
export type NodeId = `node:${string}`
export type DhtId = `dht:${string}`
export type PeersId = `peers:${string}`
export type PeerId = `peer:${string}`
export type TopicId = `topic:${string}`
export type ChannelId = `channel:${string}`
export type PresenceId = `presence:${string}`
export type PrunerId = `pruner:${string}`
export type PairingId = `pairing:${string}`
export type RelayId = `relay:${string}`
export type SystemId = SupervisorId | NodeId | DhtId | PeersId | PeerId | TopicId | ChannelId | PresenceId | PrunerId | PairingId | RelayId

/** Daemon-wide ids (systemIds). */
export const systemIds = {
  supervisor: 'supervisor' as SupervisorId,
  node: (alias: string): NodeId => `node:${alias}`,
  dht: (alias: string): DhtId => `dht:${alias}`,
  peers: (alias: string, shard: number): PeersId => `peers:${alias}:${shard}`,
  peer: (alias: string, peerId: string): PeerId => `peer:${alias}:${peerId}`,
  topic: (alias: string, topic: string): TopicId => `topic:${alias}:${topic}`,
  /** One remote peer and one direct-message protocol of a node (a protocol may hold colons, a peer id never does). */
  channel: (alias: string, peerId: string, protocol: string): ChannelId => `channel:${alias}:${peerId}:${protocol}`,
  presence: (alias: string): PresenceId => `presence:${alias}`,
  pruner: (alias: string): PrunerId => `pruner:${alias}`,
  relay: (alias: string): RelayId => `relay:${alias}`,
  pairing: (alias: string, pairingId: string): PairingId => `pairing:${alias}:${pairingId}`,
  /** The prefix every peer actor of one node shares (for `actors.list` and feeds). */
  peerPrefix: (alias: string): PeerId => `peer:${alias}:`,
}

/**
 * Ids relative to the parent. A node's children are named without its alias (the parent is the
 * node); a node under the supervisor uses its systemId; a shard and a peer under its shard are numbers.
 */
export const childIds = {
  node: systemIds.node,
  dht: 'dht',
  presence: 'presence',
  pruner: 'pruner',
  relay: 'relay',
  /**
   * A shard is named by its number alone: an array-index key, which V8 keeps in the node's children
   * object as elements, so the copy XState makes of that object on every spawn is a flat copy (with
   * `peers:N` keys each copy took V8's slow path per key: spawning the 2048 shards cost ~2 s of CPU).
   */
  peers: (shard: number) => `${shard}`,
  /**
   * A peer actor is its shard's child under a slot number, for the same reason (a free slot is taken
   * again, so they stay dense); it is registered under its systemId, which names it everywhere else.
   */
  peer: (slot: number) => `${slot}`,
  topic: (topic: string) => `topic:${topic}`,
  /** The topic a node's child id names, or undefined when it names no topic. */
  topicOf: (childId: string): string | undefined => (childId.startsWith('topic:') ? childId.slice('topic:'.length) : undefined),
  channel: (peerId: string, protocol: string) => `channel:${peerId}:${protocol}`,
  /** Whether a node's child id names a channel. */
  isChannel: (childId: string): boolean => childId.startsWith('channel:'),
  pairing: (pairingId: string) => `pairing:${pairingId}`,
  /** Whether a node's child id names a pairing. */
  isPairing: (childId: string): boolean => childId.startsWith('pairing:'),
}

export type ParsedSystemId =
  | { kind: 'supervisor' }
  | { kind: 'node'; alias: string }
  | { kind: 'dht'; alias: string }
  | { kind: 'presence'; alias: string }
  | { kind: 'pruner'; alias: string }
  | { kind: 'relay'; alias: string }
  | { kind: 'peers'; alias: string; shard: number }
  | { kind: 'peer'; alias: string; peerId: string }
  | { kind: 'topic'; alias: string; topic: string }
  | { kind: 'channel'; alias: string; peerId: string; protocol: string }
  | { kind: 'pairing'; alias: string; pairingId: string }

/** Split `rest` at its first colon; a topic may itself hold colons, an alias never does. */
function aliasAnd(rest: string): [string, string] | undefined {
  const i = rest.indexOf(':')
  return i <= 0 || i === rest.length - 1 ? undefined : [rest.slice(0, i), rest.slice(i + 1)]
}

/** Read a systemId back; undefined for a string that names no actor of the scheme. */
export function parseSystemId(id: string): ParsedSystemId | undefined {
  if (id === 'supervisor') return { kind: 'supervisor' }
  const colon = id.indexOf(':')
  if (colon < 0) return undefined
  const kind = id.slice(0, colon)
  const rest = id.slice(colon + 1)
  if (rest === '') return undefined
  if (kind === 'node' || kind === 'dht' || kind === 'presence' || kind === 'pruner' || kind === 'relay')
    return rest.includes(':') ? undefined : { kind, alias: rest }
  const pair = aliasAnd(rest)
  if (!pair) return undefined
  const [alias, tail] = pair
  if (kind === 'peer') return tail.includes(':') ? undefined : { kind, alias, peerId: tail }
  if (kind === 'topic') return { kind, alias, topic: tail }
  if (kind === 'pairing') return tail.includes(':') ? undefined : { kind, alias, pairingId: tail }
  if (kind === 'channel') {
    const peer = aliasAnd(tail)
    return peer ? { kind, alias, peerId: peer[0], protocol: peer[1] } : undefined
  }
  if (kind === 'peers') {
    const shard = Number(tail)
    return /^\d+$/.test(tail) && shard < PEER_SHARDS ? { kind, alias, shard } : undefined
  }
  return undefined
}

/**
 * The systemId of an actor's parent, read from the scheme itself (docs/protocol.md lists the tree),
 * so nothing needs XState's private `_parent`. Null for the root or an id outside the scheme.
 */
export function parentSystemId(id: string): string | null {
  const parsed = parseSystemId(id)
  if (!parsed) return null
  switch (parsed.kind) {
    case 'supervisor':
      return null
    case 'node':
      return systemIds.supervisor
    case 'dht':
    case 'presence':
    case 'pruner':
    case 'relay':
    case 'peers':
    case 'topic':
    case 'channel':
    case 'pairing':
      return systemIds.node(parsed.alias)
    case 'peer':
      return systemIds.peers(parsed.alias, shardOf(parsed.peerId))
  }
}
