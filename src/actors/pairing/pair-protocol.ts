/**
 * The pairing protocol, /switchboard/pair/1.0.0: one stream, opened by the joiner, on which each side
 * proves it holds the ticket's secret without sending it (HMAC-SHA256 over both nonces and both
 * peer ids, so a proof is bound to this handshake and these two authenticated identities), and the
 * two exchange names. Length-prefixed JSON messages, each checked against its schema.
 *
 *   joiner                                   initiator
 *   hello {pairingId, nonce, name}    ->
 *                                     <-     challenge {nonce}  | refused {reason}
 *   proof {mac}                       ->
 *                                     <-     accepted {mac, name} | refused {reason}
 *   confirm                           ->     (remembers the joiner, on disk)
 *                                     <-     done               (the joiner remembers the initiator)
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { PairingFailure } from '../../machines/pairing/pairing.types.ts'

export const PAIR_PROTOCOL = '/switchboard/pair/1.0.0'
const MAX_MESSAGE_BYTES = 4096
const NONCE_BYTES = 16

const Base64 = (bytes: number) => Type.String({ minLength: Math.ceil(bytes / 3) * 4, maxLength: Math.ceil(bytes / 3) * 4 })
const Name = Type.String({ maxLength: 256 })
const RefusalReason = Type.Union([Type.Literal('gone'), Type.Literal('busy'), Type.Literal('refused'), Type.Literal('error')])

const Hello = Type.Object({
  type: Type.Literal('hello'),
  v: Type.Literal(1),
  pairingId: Type.String({ pattern: '^[0-9a-f]{24}$' }),
  nonce: Base64(NONCE_BYTES),
  name: Name,
})
const Challenge = Type.Object({ type: Type.Literal('challenge'), nonce: Base64(NONCE_BYTES) })
const Refused = Type.Object({ type: Type.Literal('refused'), reason: RefusalReason, message: Type.String({ maxLength: 512 }) })
const Proof = Type.Object({ type: Type.Literal('proof'), mac: Base64(32) })
const Accepted = Type.Object({ type: Type.Literal('accepted'), mac: Base64(32), name: Name })
const Confirm = Type.Object({ type: Type.Literal('confirm') })
const Done = Type.Object({ type: Type.Literal('done') })

export type RefusalReason = Static<typeof RefusalReason>

/** A message that broke the protocol (wrong shape, wrong order, too big): the sender misbehaved. */
export class PairProtocolError extends Error {
  override name = 'PairProtocolError'
}

/** The other side said no; `failure` is what the pairing machine records. */
export class PairingRefusedError extends Error {
  override name = 'PairingRefusedError'
  constructor(
    readonly failure: PairingFailure,
    message: string,
    /** The initiator's own reason (`busy`: another handshake for this ticket is still winding down). */
    readonly reason?: RefusalReason,
  ) {
    super(message)
  }
}

const REFUSAL_FAILURE: Record<RefusalReason, PairingFailure> = { gone: 'gone', busy: 'error', refused: 'refused', error: 'error' }

/** The pairing id a ticket's secret names: a one-way digest, so it says nothing about the secret. */
export function pairingIdOf(secret: Uint8Array): string {
  return createHash('sha256').update('switchboard-pair-id/1').update(secret).digest('hex').slice(0, 24)
}

interface Transcript {
  pairingId: string
  joinerNonce: string
  initiatorNonce: string
  joinerPeer: string
  initiatorPeer: string
}

function mac(secret: Uint8Array, role: 'joiner' | 'initiator', t: Transcript): Buffer {
  return createHmac('sha256', secret)
    .update(['switchboard-pair/1', role, t.pairingId, t.joinerNonce, t.initiatorNonce, t.joinerPeer, t.initiatorPeer].join('|'))
    .digest()
}

function macMatches(secret: Uint8Array, role: 'joiner' | 'initiator', t: Transcript, sent: string): boolean {
  const expected = mac(secret, role, t)
  const got = Buffer.from(sent, 'base64')
  return got.length === expected.length && timingSafeEqual(got, expected)
}

const nonce = () => randomBytes(NONCE_BYTES).toString('base64')

/** One side's view of the stream: typed, size-capped messages, each validated. */
class Messages {
  readonly #lp

  constructor(
    readonly stream: Stream,
    private readonly signal: AbortSignal,
  ) {
    this.#lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
  }

  async send(message: object): Promise<void> {
    await this.#lp.write(new TextEncoder().encode(JSON.stringify(message)), { signal: this.signal })
  }

  /** The next message, which must match one of `schemas`. */
  async read<T extends TSchema[]>(...schemas: T): Promise<Static<T[number]>> {
    let value: unknown
    try {
      const bytes = await this.#lp.read({ signal: this.signal })
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray()))
    } catch (err) {
      if (this.signal.aborted) throw err
      const message = (err as Error).message
      // a stream that ended is not a protocol violation; bytes that are not a message are
      if (/end of input|stream|reset|closed|aborted/i.test(message) && !(err instanceof SyntaxError)) throw err
      throw new PairProtocolError(`not a pairing message: ${message}`)
    }
    const match = schemas.find((s) => Value.Check(s, value))
    if (!match) {
      const type = (value as { type?: unknown } | null)?.type
      throw new PairProtocolError(`unexpected pairing message ${JSON.stringify(typeof type === 'string' ? type.slice(0, 40) : type)}`)
    }
    return value as Static<T[number]>
  }

  async close(): Promise<void> {
    await this.stream.close({ signal: this.signal }).catch(() => this.stream.abort(new Error('close failed')))
  }
}

/**
 * The stream broke before the joiner confirmed: nothing was saved on either side, so the handshake
 * may run again on a new stream (a connection replaced by a simultaneous dial resets its streams).
 */
export class HandshakeInterruptedError extends Error {
  override name = 'HandshakeInterruptedError'
}

/** The joiner's side, on a stream it opened to the initiator. Resolves with the initiator's name once both have remembered. */
export async function joinerHandshake(
  stream: Stream,
  opts: { pairingId: string; secret: Uint8Array; name: string; self: string; initiator: string; signal: AbortSignal },
): Promise<{ peerName: string }> {
  let confirmed = false
  try {
    return await runJoiner(stream, opts, () => {
      confirmed = true
    })
  } catch (err) {
    const busy = err instanceof PairingRefusedError && err.reason === 'busy'
    const broken = busy || (!(err instanceof PairingRefusedError) && !(err instanceof PairProtocolError))
    if (broken && !confirmed && !opts.signal.aborted) throw new HandshakeInterruptedError((err as Error).message, { cause: err })
    throw err
  }
}

async function runJoiner(
  stream: Stream,
  opts: { pairingId: string; secret: Uint8Array; name: string; self: string; initiator: string; signal: AbortSignal },
  confirming: () => void,
): Promise<{ peerName: string }> {
  const io = new Messages(stream, opts.signal)
  const joinerNonce = nonce()
  await io.send({ type: 'hello', v: 1, pairingId: opts.pairingId, nonce: joinerNonce, name: opts.name })
  const challenge = await io.read(Challenge, Refused)
  if (challenge.type === 'refused') throw new PairingRefusedError(REFUSAL_FAILURE[challenge.reason], challenge.message, challenge.reason)
  const t: Transcript = {
    pairingId: opts.pairingId,
    joinerNonce,
    initiatorNonce: challenge.nonce,
    joinerPeer: opts.self,
    initiatorPeer: opts.initiator,
  }
  await io.send({ type: 'proof', mac: mac(opts.secret, 'joiner', t).toString('base64') })
  const answer = await io.read(Accepted, Refused)
  if (answer.type === 'refused') throw new PairingRefusedError(REFUSAL_FAILURE[answer.reason], answer.message, answer.reason)
  // the initiator must hold the secret too: a peer that only learnt the ticket's peer id cannot pass
  if (!macMatches(opts.secret, 'initiator', t, answer.mac)) {
    await io.send({ type: 'refused', reason: 'refused', message: 'your proof of the secret is wrong' }).catch(() => {})
    throw new PairingRefusedError('refused', `${opts.initiator} did not prove it holds the ticket's secret`)
  }
  confirming()
  await io.send({ type: 'confirm' })
  const done = await io.read(Done, Refused)
  if (done.type === 'refused') throw new PairingRefusedError(REFUSAL_FAILURE[done.reason], done.message, done.reason)
  await io.close()
  return { peerName: answer.name }
}

/** What the initiator's side needs to answer a joiner: the pairing it names, and its actor's steps. */
export interface InitiatorSide {
  /** The secret of a pairing that waits for a joiner, or the refusal to send. */
  open(pairingId: string, joiner: string): { secret: Uint8Array; name: string } | { refuse: RefusalReason; message: string }
  /** The hello was good: the pairing actor moves to verifying. */
  arrived(pairingId: string, joiner: string): void
  proofChecked(pairingId: string, joiner: string, valid: boolean, name: string): void
  /** The joiner confirmed; resolves once the joiner is remembered (on disk), rejects if that failed. */
  confirmed(pairingId: string, joiner: string): Promise<void>
  /** The stream broke or went quiet before the handshake finished. */
  left(pairingId: string, joiner: string, error: Error): void
}

/** The initiator's side of one inbound stream. Throws PairProtocolError when the joiner broke the protocol. */
export async function answerJoiner(
  stream: Stream,
  opts: { self: string; joiner: string; signal: AbortSignal; side: InitiatorSide },
): Promise<void> {
  const io = new Messages(stream, opts.signal)
  const hello = await io.read(Hello)
  const found = opts.side.open(hello.pairingId, opts.joiner)
  if ('refuse' in found) {
    await io.send({ type: 'refused', reason: found.refuse, message: found.message })
    await io.close()
    return
  }
  const { pairingId } = hello
  opts.side.arrived(pairingId, opts.joiner)
  try {
    const t: Transcript = {
      pairingId,
      joinerNonce: hello.nonce,
      initiatorNonce: nonce(),
      joinerPeer: opts.joiner,
      initiatorPeer: opts.self,
    }
    await io.send({ type: 'challenge', nonce: t.initiatorNonce })
    const proof = await io.read(Proof)
    const valid = macMatches(found.secret, 'joiner', t, proof.mac)
    opts.side.proofChecked(pairingId, opts.joiner, valid, hello.name)
    if (!valid) {
      await io.send({ type: 'refused', reason: 'refused', message: "wrong proof: this ticket's secret does not match" })
      await io.close()
      return
    }
    await io.send({ type: 'accepted', mac: mac(found.secret, 'initiator', t).toString('base64'), name: found.name })
    await io.read(Confirm)
    try {
      await opts.side.confirmed(pairingId, opts.joiner)
    } catch (err) {
      await io.send({ type: 'refused', reason: 'error', message: `the device could not save the pairing: ${(err as Error).message}` })
      await io.close()
      return
    }
    await io.send({ type: 'done' })
    await io.close()
  } catch (err) {
    opts.side.left(pairingId, opts.joiner, err as Error)
    throw err
  }
}
