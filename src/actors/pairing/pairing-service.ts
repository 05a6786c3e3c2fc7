/**
 * Pairing as a node service: makes tickets, answers joiners on /switchboard/pair/1.0.0, and runs
 * joins. Each pairing is a `pairing:<alias>:<id>` actor spawned by the node; this service keeps
 * what must stay out of any actor's context (the one-time secrets), and remembers for a while how
 * each ticket ended, so that a used or expired ticket is refused as such (410).
 */
import { hostname } from 'node:os'
import type { Connection, Stream } from '@libp2p/interface'
import { waitFor } from 'xstate'
import { ConflictError, OperationFailedError, ResourceNotFoundError, TimeoutError } from '../../errors.ts'
import { actorLookup, type NodeRef, type PairingRef } from '../../machines/actor-refs.ts'
import { pairingStateName } from '../../machines/pairing/pairing.machine.ts'
import type { PairingFailure } from '../../machines/pairing/pairing.types.ts'
import { qrSvg } from '../../p2p/pairing/qr.ts'
import { decodeTicket, encodeTicket, isExpired, MAX_TICKET_ADDRS, newSecret, type Ticket } from '../../p2p/pairing/ticket.ts'
import type { Reputation } from '../../p2p/reputation.ts'
import { type NodeComponents, NodeNotRunningError, type NodeService } from '../node/node-runtimes.ts'
import { answerJoiner, type InitiatorSide, PAIR_PROTOCOL, PairProtocolError, pairingIdOf } from './pair-protocol.ts'
import { PairingRefusedByPeerError, TicketGoneError } from './errors.ts'

export interface PairingSettings {
  /** Ticket lifetime when pairing.create names none (s). */
  defaultTtlSeconds: number
  /** A joiner's dial plus handshake must finish within this; an initiator drops a joiner silent this long (ms). */
  handshakeTimeoutMs: number
  /** Wrong proofs for one ticket after which it is cancelled. */
  maxWrongProofs: number
  /** Put loopback addresses in tickets (tests, one-machine setups); otherwise only when there is nothing else. */
  allowLoopback: boolean
}

export interface PairingDeps {
  settings: PairingSettings
  reputation: Pick<Reputation, 'violation'>
  nodeRef: (alias: string) => NodeRef | undefined
  log: (msg: string) => void
}

export interface CreatedPairing {
  pairingId: string
  ticket: string
  expiresAt: number
  qrSvg: string
}

/** How a ticket ended, kept so that the next joiner holding it hears why it no longer pairs. */
type Outcome = 'paired' | 'expired' | 'cancelled' | 'failed'
const OUTCOME_MESSAGE: Record<Outcome, string> = {
  paired: 'this ticket was already used: tickets pair once',
  expired: 'this ticket expired',
  cancelled: 'this ticket was cancelled',
  failed: 'this ticket is no longer valid',
}
/** Finished tickets remembered (the oldest forgotten first); enough for any ticket still in someone's hands. */
const SPENT_KEPT = 1_000

interface Pending {
  role: 'initiator' | 'joiner'
  secret: Uint8Array
  ticket: string
  /** Initiator: our name for the joiner to see; joiner: ours for the initiator. */
  name: string
  /** Joiner: the ticket it holds. */
  parsed?: Ticket
}

export class PairingService implements NodeService {
  readonly #pending = new Map<string, Pending>()
  readonly #spent = new Map<string, Outcome>()
  readonly #handshakes = new Set<AbortController>()
  readonly self: string

  constructor(
    private readonly d: PairingDeps,
    private readonly c: Pick<NodeComponents, 'alias' | 'libp2p'>,
  ) {
    this.self = c.libp2p.peerId.toString()
  }

  async start(): Promise<void> {
    await this.c.libp2p.handle(PAIR_PROTOCOL, (stream, connection) => this.#answer(stream, connection), {
      maxInboundStreams: 4,
    })
  }

  async stop(): Promise<void> {
    for (const h of this.#handshakes) h.abort(new Error('the node is stopping'))
    await this.c.libp2p.unhandle(PAIR_PROTOCOL).catch(() => {})
  }

  #node(): NodeRef {
    const node = this.d.nodeRef(this.c.alias)
    if (node?.getSnapshot().value !== 'running') throw new NodeNotRunningError(this.c.alias)
    return node
  }

  #actor(pairingId: string): PairingRef | undefined {
    const node = this.d.nodeRef(this.c.alias)
    return node && actorLookup(node.system).pairing(this.c.alias, pairingId)
  }

  /** Start a pairing actor and watch it until it finishes, then keep how it ended. */
  #spawn(pairingId: string, pending: Pending, input: { peerId?: string; ttlMs: number }): PairingRef {
    this.#pending.set(pairingId, pending)
    this.#node().send({
      type: 'pairings.start',
      input: {
        alias: this.c.alias,
        pairingId,
        role: pending.role,
        name: pending.name,
        ...(input.peerId !== undefined ? { peerId: input.peerId } : {}),
        ttlMs: input.ttlMs,
        handshakeTimeoutMs: this.d.settings.handshakeTimeoutMs,
        maxWrongProofs: this.d.settings.maxWrongProofs,
      },
    })
    const ref = this.#actor(pairingId)
    if (!ref) throw new OperationFailedError(`pairing ${pairingId} did not start`)
    const sub = ref.subscribe({
      next: (s) => {
        if (s.status !== 'done') return
        sub.unsubscribe()
        this.#settle(pairingId, pairingStateName(s.value) as Outcome)
      },
      error: () => this.#settle(pairingId, 'failed'),
    })
    return ref
  }

  #settle(pairingId: string, outcome: Outcome): void {
    this.#pending.delete(pairingId)
    this.#spent.set(pairingId, outcome)
    if (this.#spent.size > SPENT_KEPT) this.#spent.delete(this.#spent.keys().next().value as string)
  }

  /** The addresses a joiner can dial us at: non-loopback first, at most a ticket's worth. */
  #ticketAddrs(): string[] {
    const rank = (a: string) => (a.includes('/webrtc-direct') ? 2 : a.includes('/ws') ? 1 : 0)
    const all = this.c.libp2p
      .getMultiaddrs()
      .map((ma) => ma.toString().replace(/\/p2p\/[^/]+$/, ''))
      .filter((a) => !a.includes('/p2p-circuit'))
    const loopback = (a: string) => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/')
    const outside = all.filter((a) => !loopback(a))
    const chosen = this.d.settings.allowLoopback || outside.length === 0 ? [...outside, ...all.filter(loopback)] : outside
    return [...new Set(chosen)].sort((a, b) => rank(a) - rank(b)).slice(0, MAX_TICKET_ADDRS)
  }

  /** pairing.create: a ticket (and its QR code) that one joiner may use before it expires. */
  async create(opts: { ttlSeconds?: number; name?: string }): Promise<CreatedPairing> {
    const secret = newSecret()
    const pairingId = pairingIdOf(secret)
    const ttlMs = (opts.ttlSeconds ?? this.d.settings.defaultTtlSeconds) * 1000
    const expiresAt = Date.now() + ttlMs
    const ticket = encodeTicket({ peerId: this.self, addrs: this.#ticketAddrs(), secret, expiresAt })
    this.#spawn(pairingId, { role: 'initiator', secret, ticket, name: opts.name ?? hostname() }, { ttlMs })
    return { pairingId, ticket, expiresAt, qrSvg: await qrSvg(ticket) }
  }

  /**
   * pairing.join: check the ticket (400 before any network call, 410 when expired), run the joiner's
   * pairing actor, and resolve with the initiator's peer id once both sides remember each other.
   */
  async join(text: string, name: string | undefined, signal?: AbortSignal): Promise<{ peerId: string; pairingId: string }> {
    const parsed = decodeTicket(text, { selfPeerId: this.self })
    if (isExpired(parsed)) throw new TicketGoneError(`ticket: expired at ${new Date(parsed.expiresAt).toISOString()}; ask for a new one`)
    const pairingId = pairingIdOf(parsed.secret)
    if (this.#pending.has(pairingId)) throw new ConflictError(`ticket: this ticket is already being used by pairing ${pairingId}`)
    const spent = this.#spent.get(pairingId)
    if (spent === 'paired') throw new TicketGoneError(`ticket: ${OUTCOME_MESSAGE.paired}`)
    const ref = this.#spawn(
      pairingId,
      { role: 'joiner', secret: parsed.secret, ticket: text.trim(), name: name ?? hostname(), parsed },
      { peerId: parsed.peerId, ttlMs: parsed.expiresAt - Date.now() },
    )
    const stop = () => ref.send({ type: 'pairing.cancel' })
    signal?.addEventListener('abort', stop, { once: true })
    try {
      const done = await waitFor(ref, (s) => s.status === 'done', { timeout: Number.POSITIVE_INFINITY })
      if (done.value === 'paired') return { peerId: parsed.peerId, pairingId }
      throw joinError(done.context.failure, done.context.error ?? pairingStateName(done.value))
    } finally {
      signal?.removeEventListener('abort', stop)
    }
  }

  /** pairing.cancel: 404 for a pairing that is not running. */
  cancel(pairingId: string): void {
    const ref = this.#pending.has(pairingId) ? this.#actor(pairingId) : undefined
    if (!ref) throw new ResourceNotFoundError(`no running pairing ${pairingId}`)
    ref.send({ type: 'pairing.cancel' })
  }

  /** Whether a pairing in progress expects `peerId` (a joiner's initiator), or any joiner may arrive (a ticket is out). */
  admits(peerId: string): boolean {
    for (const p of this.#pending.values()) if (p.role === 'initiator' || p.parsed?.peerId === peerId) return true
    return false
  }

  /** What the joiner's effects need of its ticket (the secret never enters the actor). */
  joining(pairingId: string): Pending & { parsed: Ticket } {
    const p = this.#pending.get(pairingId)
    if (p?.role !== 'joiner' || !p.parsed) throw new OperationFailedError(`no join in progress for pairing ${pairingId}`)
    return p as Pending & { parsed: Ticket }
  }

  /** The ticket a pairing used, to keep with the known peer. */
  ticketOf(pairingId: string): string | undefined {
    return this.#pending.get(pairingId)?.ticket
  }

  async #answer(stream: Stream, connection: Connection): Promise<void> {
    const joiner = connection.remotePeer.toString()
    const abort = new AbortController()
    this.#handshakes.add(abort)
    const timer = setTimeout(
      () => abort.abort(new TimeoutError(`pairing handshake with ${joiner} took over ${this.d.settings.handshakeTimeoutMs} ms`)),
      this.d.settings.handshakeTimeoutMs,
    )
    try {
      await answerJoiner(stream, { self: this.self, joiner, signal: abort.signal, side: this.#side() })
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof PairProtocolError) {
        this.d.reputation.violation(joiner, 'malformed-frame')
        this.d.log(`pairing ${this.c.alias}: ${joiner} broke the pairing protocol: ${err.message}`)
      }
    } finally {
      clearTimeout(timer)
      this.#handshakes.delete(abort)
    }
  }

  /** The initiator's steps, told to the pairing actor. */
  #side(): InitiatorSide {
    const actor = (pairingId: string) => {
      const ref = this.#actor(pairingId)
      if (!ref) throw new OperationFailedError(`pairing ${pairingId} is gone`)
      return ref
    }
    return {
      open: (pairingId) => {
        const pending = this.#pending.get(pairingId)
        const ref = pending?.role === 'initiator' ? this.#actor(pairingId) : undefined
        if (!pending || !ref) {
          const outcome = this.#spent.get(pairingId)
          return {
            refuse: 'gone',
            message: outcome
              ? OUTCOME_MESSAGE[outcome]
              : 'no such pairing here: the ticket expired, was used, or was made before a restart',
          }
        }
        if (!ref.getSnapshot().matches({ initiator: 'waiting' }))
          return { refuse: 'busy', message: 'another device is pairing with this ticket right now; try again shortly' }
        return { secret: pending.secret, name: pending.name }
      },
      arrived: (pairingId, joiner) => actor(pairingId).send({ type: 'pairing.joinerArrived', peerId: joiner }),
      proofChecked: (pairingId, joiner, valid, name) =>
        actor(pairingId).send({ type: 'pairing.proofChecked', peerId: joiner, valid, name }),
      confirmed: async (pairingId, joiner) => {
        const ref = actor(pairingId)
        ref.send({ type: 'pairing.confirmed', peerId: joiner })
        const done = await waitFor(ref, (s) => s.status === 'done', { timeout: Number.POSITIVE_INFINITY })
        if (done.value !== 'paired') throw new Error(done.context.error ?? pairingStateName(done.value))
      },
      left: (pairingId, joiner, error) =>
        this.#actor(pairingId)?.send({ type: 'pairing.joinerLeft', peerId: joiner, error: error.message }),
    }
  }
}

/** The client-facing error for a join that ended without pairing. */
function joinError(failure: PairingFailure | null, message: string): Error {
  switch (failure) {
    case 'gone':
      return new TicketGoneError(`ticket: ${message}`)
    case 'refused':
      return new PairingRefusedByPeerError(message)
    case 'unreachable':
    case 'timeout':
      return new TimeoutError(message)
    default:
      return new OperationFailedError(message)
  }
}

export const pairingService =
  (deps: PairingDeps) =>
  async (components: Pick<NodeComponents, 'alias' | 'libp2p'>): Promise<PairingService> => {
    const service = new PairingService(deps, components)
    await service.start()
    return service
  }
