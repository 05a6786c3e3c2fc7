import { type Static, Type } from '@sinclair/typebox'

/** A client may cancel a pairing that has not finished (the same as `pairing.cancel`). */
export const PairingClientEventSchema = Type.Union([Type.Object({ type: Type.Literal('pairing.cancel') })])
export type PairingClientEvent = Static<typeof PairingClientEventSchema>

export type PairingRole = 'initiator' | 'joiner'

/** Why a pairing did not pair; the joiner's `pairing.join` answers with the matching status. */
export type PairingFailure =
  /** The initiator does not know the ticket (any more): expired, used, cancelled, or made before a restart (410). */
  | 'gone'
  /** The initiator refused our proof: the ticket's secret does not match (403). */
  | 'refused'
  /** The initiator could not be reached (504 after the dial gave up). */
  | 'unreachable'
  /** The handshake did not finish in time (504). */
  | 'timeout'
  /** The other side broke the protocol, or saving the peer failed (500). */
  | 'error'

export interface PairingInput {
  alias: string
  pairingId: string
  role: PairingRole
  /** Our name, told to the other side. */
  name: string
  /** The joiner knows the initiator from the ticket; the initiator learns the joiner when one arrives. */
  peerId?: string
  /** Initiator: how long the ticket is valid (ms from now). */
  ttlMs: number
  /** Joiner: the whole dial and handshake must finish within this (ms). */
  handshakeTimeoutMs: number
  /** Initiator: wrong proofs for this ticket after which it is cancelled. */
  maxWrongProofs: number
}

export interface PairingContext extends Omit<PairingInput, 'peerId'> {
  peerId: string | null
  /** The name the other side gave. */
  peerName: string | null
  wrongProofs: number
  failure: PairingFailure | null
  error: string | null
}

/** What the joiner's handshake (the pairing protocol run over one stream) ends with. */
export interface HandshakeResult {
  peerName: string
}

export type PairingEvent =
  | PairingClientEvent
  /** Initiator: a joiner opened the pairing protocol naming this pairing. */
  | { type: 'pairing.joinerArrived'; peerId: string }
  /** Initiator: the joiner's proof was checked against the secret. */
  | { type: 'pairing.proofChecked'; peerId: string; valid: boolean; name?: string }
  /** Initiator: the joiner took our acceptance and confirmed; both sides may now remember each other. */
  | { type: 'pairing.confirmed'; peerId: string }
  /** Initiator: the joiner's stream ended before the handshake did. */
  | { type: 'pairing.joinerLeft'; peerId: string; error: string }
