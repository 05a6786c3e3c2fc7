import { type TSchema, Type } from '@sinclair/typebox'

/** Shapes several methods and pushes share (docs/protocol.md names them). */

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

export const ConnectionType = Type.Union([Type.Literal('direct'), Type.Literal('relay'), Type.Literal('webrtc'), Type.Literal('none')])

export const PeerStatus = Type.Union([
  Type.Literal('disconnected'),
  Type.Literal('connecting'),
  Type.Literal('connected'),
  Type.Literal('syncing'),
  Type.Literal('backoff'),
  Type.Literal('failed'),
])

/** protocol.md `PeerState`: one remote peer as its peer actor sees it. */
export const PeerState = Type.Object({
  peerId: Type.String(),
  name: Type.String(),
  ticket: Type.Optional(Type.String()),
  addedAt: Nullable(Type.Number()),
  lastSyncAt: Nullable(Type.Number()),
  autoConnect: Type.Boolean(),
  known: Type.Boolean(),
  added: Type.Boolean(),
  held: Type.Boolean(),
  connectionType: ConnectionType,
  lastError: Nullable(Type.String()),
  sync: Nullable(Type.Object({ blocksFetched: Type.Integer(), blocksTotal: Type.Integer(), bytes: Type.Number() })),
  failures: Type.Integer({ minimum: 0 }),
  since: Type.Number(),
  status: PeerStatus,
})

/** protocol.md `Snapshot`: what a client sees of one actor. */
export const Snapshot = Type.Object({
  systemId: Type.String(),
  kind: Type.String(),
  parent: Nullable(Type.String()),
  value: Type.Unknown(),
  status: Type.String(),
  tags: Type.Array(Type.String()),
  context: Type.Unknown(),
  seq: Type.Integer({ minimum: 1 }),
})

export const MachineEntry = Type.Object({
  kind: Type.String(),
  description: Type.String(),
  /** A machine config xstate's `createMachine` accepts (src/machines/definition.ts). */
  definition: Type.Object({ id: Type.String(), states: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }),
  clientEvents: Type.Array(Type.String()),
  /** The JSON Schema of the events `actors.send` takes for this kind. */
  clientEventSchema: Type.Unknown(),
})

export const ConnectResult = Type.Object({
  success: Type.Boolean(),
  connectionType: ConnectionType,
  error: Type.Optional(Type.String()),
})

export const FoundPeer = Type.Object({ peerId: Type.String(), addrs: Type.Array(Type.String()) })

export const AddressSource = Type.Union([
  Type.Literal('identify'),
  Type.Literal('dht'),
  Type.Literal('dial'),
  Type.Literal('manual'),
  Type.Literal('pairing'),
  Type.Literal('presence'),
])

export const AddressBookEntry = Type.Object({
  multiaddr: Type.String(),
  peerId: Type.Optional(Type.String()),
  source: AddressSource,
  firstSeen: Type.Number(),
  lastSeen: Type.Number(),
  attempts: Type.Integer({ minimum: 0 }),
  successes: Type.Integer({ minimum: 0 }),
  failures: Type.Integer({ minimum: 0 }),
  quality: Type.Number(),
})

export const ReputationEntry = Type.Object({
  peerId: Type.String(),
  score: Type.Number(),
  failures: Type.Integer({ minimum: 0 }),
  bannedUntil: Type.Optional(Type.Number()),
})

export const Ban = Type.Object({ peerId: Type.String(), until: Type.Number(), reason: Type.String(), createdAt: Type.Number() })

export const ActivityType = Type.Union([
  Type.Literal('info'),
  Type.Literal('peer_joined'),
  Type.Literal('peer_left'),
  Type.Literal('error'),
])

export const ActivityEntry = Type.Object({
  type: ActivityType,
  peerId: Type.Optional(Type.String()),
  message: Type.String(),
  at: Type.Number(),
})

export const OnlinePeer = Type.Object({
  peerId: Type.String(),
  nickname: Type.String(),
  multiaddrs: Type.Array(Type.String()),
  createdAt: Type.Integer(),
  expiresAt: Type.Integer(),
})

export const GcReport = Type.Object({
  blocks: Type.Integer({ minimum: 0 }),
  referenced: Type.Integer({ minimum: 0 }),
  cached: Type.Integer({ minimum: 0 }),
  cachedBytes: Type.Number({ minimum: 0 }),
  evicted: Type.Integer({ minimum: 0 }),
  kept: Type.Integer({ minimum: 0 }),
  freed: Type.Integer({ minimum: 0 }),
  countsRepaired: Type.Integer({ minimum: 0 }),
  missing: Type.Integer({ minimum: 0 }),
  tempFiles: Type.Integer({ minimum: 0 }),
  expired: Type.Integer({ minimum: 0 }),
  sessionRoots: Type.Integer({ minimum: 0 }),
  ms: Type.Number({ minimum: 0 }),
})

/** One entry of a directory listing (`peerFiles`), p2p-webapp's FileEntry. */
export const FileEntry = Type.Object({
  type: Type.Union([Type.Literal('file'), Type.Literal('directory')]),
  cid: Type.String(),
  mimeType: Type.Optional(Type.String()),
})

/** `gotFile` content: a file (base64), a directory (name -> CID), or the error. */
export const FileContent = Type.Union([
  Type.Object({ type: Type.Literal('file'), mimeType: Type.String(), content: Type.String() }),
  Type.Object({ type: Type.Literal('directory'), entries: Type.Record(Type.String(), Type.String()) }),
])
