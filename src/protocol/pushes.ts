import { Type } from '@sinclair/typebox'
import { ActivityEntry, FileContent, FileEntry, Nullable, OnlinePeer, PeerState, Snapshot } from './shapes.ts'

/**
 * Every push the daemon sends (`{requestid, isresponse: false, method, params}`): the schema of its
 * params, by method name. test/client/schemas.test.ts checks each against pushes a live daemon sent.
 */
export const pushSchemas = {
  /** A message on a subscribed topic; `encoding` only for payloads that are not JSON. */
  topicData: Type.Object({
    topic: Type.String(),
    peerid: Type.String(),
    data: Type.Unknown(),
    encoding: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('base64')])),
  }),
  /** A peer joined or left a subscribed topic. */
  peerChange: Type.Object({ topic: Type.String(), peerid: Type.String(), joined: Type.Boolean() }),
  /** A direct message on a started protocol. */
  peerData: Type.Object({ peer: Type.String(), protocol: Type.String(), data: Type.Unknown() }),
  /** The fate of a `send` that asked for an ack. */
  ack: Type.Object({ ack: Type.Integer(), delivered: Type.Boolean(), error: Type.Optional(Type.String()) }),
  /** A directory listing, after `listfiles`. */
  peerFiles: Type.Object({
    peerid: Type.String(),
    cid: Type.String(),
    entries: Type.Record(Type.String(), FileEntry),
    source: Type.Optional(Type.Literal('replica')),
  }),
  /** The answer to `getfile`. */
  gotFile: Type.Union([
    Type.Object({ cid: Type.String(), success: Type.Literal(true), content: FileContent }),
    Type.Object({ cid: Type.String(), success: Type.Literal(false), content: Type.Object({ error: Type.String() }) }),
  ]),
  /** A remote peer of the bound node changed. */
  'peer.state': PeerState,
  /** A step of one of the bound node's pairings; `peer` once paired. */
  'pairing.state': Type.Object({
    pairingId: Type.String(),
    state: Type.String(),
    role: Type.Union([Type.Literal('initiator'), Type.Literal('joiner')]),
    peerId: Nullable(Type.String()),
    peerName: Nullable(Type.String()),
    error: Nullable(Type.String()),
    peer: Type.Optional(PeerState),
  }),
  'presence.update': Type.Object({ online: Type.Array(OnlinePeer) }),
  activity: ActivityEntry,
  /** An actor under an `actors.subscribe` prefix changed. */
  'actor.snapshot': Type.Composite([Type.Object({ subscription: Type.String() }), Snapshot]),
  /** An actor under an `actors.subscribe` prefix stopped; `seq` is its next one. */
  'actor.stopped': Type.Object({ subscription: Type.String(), systemId: Type.String(), kind: Type.String(), seq: Type.Integer() }),
  /** A summary of an XState inspection event (`inspect.subscribe`). */
  'inspect.event': Type.Object({
    type: Type.String(),
    actorId: Nullable(Type.String()),
    sourceId: Type.Optional(Nullable(Type.String())),
    event: Type.Optional(Type.Object({ type: Type.String() })),
    value: Type.Optional(Type.Unknown()),
    status: Type.Optional(Nullable(Type.String())),
  }),
} as const
