import { type TSchema, Type } from '@sinclair/typebox'
import {
  ActivityEntry,
  AddressBookEntry,
  Ban,
  ConnectResult,
  FoundPeer,
  GcReport,
  MachineEntry,
  Nullable,
  OnlinePeer,
  PeerState,
  ReputationEntry,
  Snapshot,
} from './shapes.ts'

/**
 * Every method of the WebSocket protocol (docs/protocol.md): its params, the same TypeBox schema
 * the server validates them with (test/client/schemas.test.ts holds the two equal), and its result,
 * the shape the server answers with (checked against a live daemon by the same test). Browser-safe:
 * this module and those it imports need @sinclair/typebox only.
 *
 * Objects allow properties beyond those listed (TypeBox's default), so a daemon that adds a field
 * later still passes a client's check; every listed field is what today's daemon sends.
 */

const Empty = Type.Object({})
const Null = Type.Null()

// ---- params (kept equal to the server's, in src/server/methods/*.methods.ts) ------------------

const Prefix = Type.Object({ prefix: Type.Optional(Type.String({ maxLength: 1024 })) })
const CidParam = Type.String({ minLength: 1, maxLength: 256 })
const Timeout = Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 }))
const ProtocolParam = Type.String({ maxLength: 1024 })
const PairingName = Type.String({ minLength: 1, maxLength: 256 })
const PeerIdParam = Type.String({ minLength: 1, maxLength: 256 })
const PeerIds = Type.Array(PeerIdParam, { maxItems: 1000 })
const TopicParam = Type.String({ minLength: 1 })
const PeerIdList = Type.Object({ peerIds: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 1000 }) })
/** src/p2p/pairing/ticket.ts MAX_TICKET_CHARS */
const MAX_TICKET_CHARS = 4096
/** src/p2p/presence-record.ts */
const MAX_NICKNAME_LENGTH = 64
const MAX_PRESENCE_TTL_SECONDS = 3600

const ConnectResults = Type.Record(Type.String(), ConnectResult)

const method = <P extends TSchema, R extends TSchema>(params: P, result: R) => ({ params, result })

export const methodSchemas = {
  // node
  'node.info': method(
    Empty,
    Type.Object({
      peerid: Type.String(),
      alias: Type.String(),
      addrs: Type.Array(Type.String()),
      dhtReady: Type.Boolean(),
      version: Type.String(),
      connections: Type.Integer({ minimum: 0 }),
      reachability: Type.Object({
        status: Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('unknown')]),
        verified: Type.Array(Type.String()),
        relayed: Type.Array(Type.String()),
      }),
      relay: Nullable(Type.Object({ reservations: Type.Integer({ minimum: 0 }) })),
    }),
  ),

  // actors
  'machines.list': method(Empty, Type.Object({ machines: Type.Array(MachineEntry) })),
  'actors.list': method(Prefix, Type.Object({ actors: Type.Array(Snapshot) })),
  'actors.subscribe': method(Prefix, Type.Object({ subscription: Type.String(), actors: Type.Array(Snapshot) })),
  'actors.unsubscribe': method(Type.Object({ subscription: Type.String({ maxLength: 64 }) }), Null),
  'actors.send': method(
    Type.Object({
      systemId: Type.String({ minLength: 1, maxLength: 2048 }),
      event: Type.Object({ type: Type.String({ minLength: 1, maxLength: 128 }) }),
    }),
    Type.Object({ value: Type.Unknown() }),
  ),
  'inspect.subscribe': method(Empty, Null),

  // dht
  'dht.provide': method(Type.Object({ cid: CidParam, timeoutMs: Timeout }), Type.Object({ cid: Type.String() })),
  'dht.findProviders': method(
    Type.Object({ cid: CidParam, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), timeoutMs: Timeout }),
    Type.Object({ providers: Type.Array(FoundPeer) }),
  ),
  'dht.findPeer': method(Type.Object({ peerId: Type.String({ minLength: 1, maxLength: 256 }), timeoutMs: Timeout }), FoundPeer),

  // remote peers
  'peers.list': method(Empty, Type.Object({ peers: Type.Array(PeerState) })),
  'peers.connect': method(
    Type.Object({ peerId: PeerIdParam, addrs: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 1000 })) }),
    ConnectResult,
  ),
  'peers.connectMany': method(
    Type.Object({ peerIds: PeerIds, concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })) }),
    Type.Object({ results: ConnectResults }),
  ),
  'peers.ensureConnected': method(
    Type.Object({ peerIds: PeerIds, concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })) }),
    Type.Object({ allConnected: Type.Boolean(), results: ConnectResults }),
  ),
  'peers.disconnect': method(Type.Object({ peerId: PeerIdParam }), Null),
  'peers.update': method(
    Type.Object({
      peerId: PeerIdParam,
      name: Type.Optional(Type.String({ maxLength: 256 })),
      autoConnect: Type.Optional(Type.Boolean()),
      known: Type.Optional(Type.Boolean()),
    }),
    PeerState,
  ),
  'peers.forget': method(Type.Object({ peerId: PeerIdParam }), Null),
  'peers.connectAll': method(Empty, Type.Object({ results: ConnectResults })),
  'addressbook.list': method(
    Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })) }),
    Type.Object({ entries: Type.Array(AddressBookEntry) }),
  ),
  'reputation.list': method(Empty, Type.Object({ peers: Type.Array(ReputationEntry) })),
  'bans.add': method(
    Type.Object({
      peerId: PeerIdParam,
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 24 * 3600 })),
      reason: Type.Optional(Type.String({ maxLength: 1024 })),
    }),
    Ban,
  ),
  'bans.remove': method(Type.Object({ peerId: PeerIdParam }), Null),
  'bans.list': method(Empty, Type.Object({ bans: Type.Array(Ban) })),
  'activity.list': method(
    Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) }),
    Type.Object({ activity: Type.Array(ActivityEntry) }),
  ),

  // pairing
  'pairing.create': method(
    Type.Object({
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 7 * 24 * 3600 })),
      /** How this device introduces itself to the joiner (default: the host name). */
      name: Type.Optional(PairingName),
    }),
    Type.Object({ pairingId: Type.String(), ticket: Type.String(), expiresAt: Type.Integer(), qrSvg: Type.String() }),
  ),
  'pairing.join': method(
    Type.Object({
      ticket: Type.String({ maxLength: MAX_TICKET_CHARS }),
      /** How this device introduces itself to the ticket's device (default: the host name). */
      name: Type.Optional(PairingName),
    }),
    PeerState,
  ),
  'pairing.cancel': method(Type.Object({ pairingId: Type.String({ minLength: 1, maxLength: 64 }) }), Null),

  // session
  peer: method(
    Type.Object({
      peerkey: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
      rootDirectory: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    }),
    Type.Object({ peerid: Type.String(), peerkey: Type.String(), version: Type.String() }),
  ),

  // topics
  subscribe: method(Type.Object({ topic: TopicParam }), Null),
  unsubscribe: method(Type.Object({ topic: TopicParam }), Null),
  publish: method(
    Type.Object({
      topic: TopicParam,
      data: Type.Unknown(),
      encoding: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('base64')])),
    }),
    Null,
  ),
  listpeers: method(Type.Object({ topic: TopicParam }), Type.Object({ peers: Type.Array(Type.String()) })),

  // files
  'files.gc': method(Empty, GcReport),
  storefile: method(
    Type.Object({
      path: Type.String({ maxLength: 16_384 }),
      content: Type.Optional(Type.String()),
      directory: Type.Optional(Type.Boolean()),
    }),
    Type.Object({ fileCid: Type.String(), rootCid: Type.String() }),
  ),
  removefile: method(Type.Object({ path: Type.String({ maxLength: 16_384 }) }), Null),
  /** Answers null after the `peerFiles` push. */
  listfiles: method(Type.Object({ peerid: Type.String({ minLength: 1, maxLength: 256 }) }), Null),
  /** Answers null at once; the `gotFile` push follows. */
  getfile: method(
    Type.Object({
      cid: Type.String({ minLength: 1, maxLength: 256 }),
      fallbackPeerID: Type.Optional(Type.String({ maxLength: 256 })),
    }),
    Null,
  ),

  // protected peers
  addpeers: method(PeerIdList, Null),
  removepeers: method(PeerIdList, Null),

  // presence
  'presence.announce': method(
    Type.Object({
      nickname: Type.Optional(Type.String({ maxLength: MAX_NICKNAME_LENGTH })),
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PRESENCE_TTL_SECONDS })),
    }),
    Null,
  ),
  'presence.list': method(Empty, Type.Object({ online: Type.Array(OnlinePeer) })),

  // direct messages
  start: method(Type.Object({ protocol: ProtocolParam }), Null),
  stop: method(Type.Object({ protocol: ProtocolParam }), Null),
  send: method(
    Type.Object({
      peer: Type.String({ maxLength: 256 }),
      protocol: ProtocolParam,
      data: Type.Unknown(),
      // p2p-webapp numbers acks from 0; below 0 (or absent) asks for no ack push
      ack: Type.Optional(Type.Integer()),
    }),
    Null,
  ),
} as const
