import { type AnyActor, fromPromise } from 'xstate'
import { PairingRefusedError } from '../../src/actors/pairing/pair-protocol.ts'
import { pairingMachine, pairingPublicContext, pairingStateName } from '../../src/machines/pairing/pairing.machine.ts'
import type {
  HandshakeResult,
  PairingContext,
  PairingEvent,
  PairingFailure,
  PairingInput,
} from '../../src/machines/pairing/pairing.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

/** One call of an effect that returns a promise, settled by the world. */
interface Call<I, O> {
  input: I
  signal: AbortSignal
  settled: boolean
  resolve(output: O): void
  reject(error: Error): void
}

type Step = { alias: string; peerId: string; pairingId: string }
type RememberInput = Step & { peerName: string }

/**
 * A joiner's session on the initiator's pairing protocol, as the initiator's service sees it:
 * `hello` once it opened the protocol naming the ticket, `proved` once its proof of the secret
 * checked out, `confirmed` once it took our acceptance, then ended (`refused` after a wrong proof,
 * `left` when its stream broke).
 */
interface Session {
  peer: string
  name: string
  stage: 'hello' | 'proved' | 'confirmed' | 'refused' | 'left'
}

/** How the world ends the joiner's handshake with the initiator (what `/switchboard/pair/1.0.0` answers). */
export type HandshakeEnd =
  /** the initiator does not know the ticket any more (expired, used, cancelled, restarted) */
  | 'gone'
  /** the initiator refused our proof */
  | 'refused'
  /** another device is pairing with the ticket right now */
  | 'busy'
  /** the stream broke midway */
  | 'reset'

const HANDSHAKE_ERRORS: Record<HandshakeEnd, { error: () => Error; failure: PairingFailure }> = {
  gone: { error: () => new PairingRefusedError('gone', 'this ticket was already used: tickets pair once'), failure: 'gone' },
  refused: { error: () => new PairingRefusedError('refused', "wrong proof: this ticket's secret does not match"), failure: 'refused' },
  busy: { error: () => new PairingRefusedError('error', 'another device is pairing with this ticket right now'), failure: 'error' },
  reset: { error: () => new Error('the stream was reset'), failure: 'error' },
}

/**
 * What the pairing actor's effects touch, faked, for either role. Initiator: the ticket that is
 * out, the joiners' sessions on the pairing protocol (one at a time in the handshake; a late
 * report from a session that is not the one in the handshake is stale), the wrong proofs checked,
 * the reputation penalties. Joiner: the ticket's device, the dial to it and the handshake with it.
 * Both: the known-peers store and the writes to it in flight, the client watching `pairing.state`
 * pushes, and the clock (ttl, handshakeTimeout). Nothing here reads the machine.
 */
export class PairingWorld {
  readonly clock = new WorldClock()
  readonly dials: Call<Step, void>[] = []
  readonly handshakes: Call<Step & { name: string }, HandshakeResult>[] = []
  readonly remembers: Call<RememberInput, void>[] = []
  /** The known-peers store: peer id -> name, written once a remember is on disk. */
  readonly store = new Map<string, string>()
  /** Peers the reputation store was told sent a wrong pairing proof, in order. */
  readonly penalties: string[] = []
  /** Initiator: every session a joiner opened, in order. */
  readonly sessions: Session[] = []
  /** Initiator: the peers whose proofs for this ticket were wrong, in order. */
  readonly wrongBy: string[] = []
  /** Initiator: reports from sessions that were not the one in the handshake. */
  stale = 0
  /** Joiner: the ticket's device answered the dial. */
  reached = false
  /** Joiner: the handshake ended, and how. */
  handshake: 'done' | HandshakeEnd | undefined
  /** A client asked to cancel. */
  cancelAsked = false
  /** Why a pairing that failed failed, from what the world did. */
  expectedFailure: PairingFailure | undefined
  /** The message of what failed, as the world said it. */
  failMessage: string | undefined
  /** What the client watching `pairing.state` pushes last saw (the state's name and the pairing's public view). */
  client: (ReturnType<typeof pairingPublicContext> & { state: string }) | undefined
  /** The pairing service saw the actor finish (it settles the ticket then, and answers the join). */
  finished = false
  readonly violations: string[] = []
  #actor: AnyActor | undefined

  constructor(readonly settings: PairingInput) {}

  #call<I, O>(calls: Call<I, O>[], input: I, signal: AbortSignal): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const call: Call<I, O> = {
        input,
        signal,
        settled: false,
        resolve: (o) => {
          call.settled = true
          resolve(o)
        },
        reject: (e) => {
          call.settled = true
          reject(e)
        },
      }
      calls.push(call)
    })
  }

  #checkStep(what: string, input: Step): void {
    const { alias, pairingId } = this.settings
    if (input.alias !== alias || input.pairingId !== pairingId) this.violations.push(`${what} for ${input.alias}/${input.pairingId}`)
  }

  readonly effects = {
    actors: {
      dial: fromPromise<void, Step>(({ input, signal }) => {
        this.#checkStep('a dial', input)
        if (this.settings.role !== 'joiner') this.violations.push('the initiator dialled')
        return this.#call(this.dials, input, signal)
      }),
      handshake: fromPromise<HandshakeResult, Step & { name: string }>(({ input, signal }) => {
        this.#checkStep('a handshake', input)
        if (!this.reached) this.violations.push('a handshake before the device was reached')
        return this.#call(this.handshakes, input, signal)
      }),
      remember: fromPromise<void, RememberInput>(({ input, signal }) => {
        this.#checkStep('a remember', input)
        return this.#call(this.remembers, input, signal)
      }),
    },
    actions: {
      penalize: (_: unknown, params: { peerId: string }) => {
        this.penalties.push(params.peerId)
      },
    },
  }

  attach = (actor: AnyActor) => {
    this.#actor = actor
    actor.subscribe((snapshot) => {
      this.client = { ...pairingPublicContext(snapshot.context as PairingContext), state: pairingStateName(snapshot.value) }
      this.finished = snapshot.status === 'done'
    })
  }

  #send(event: PairingEvent): void {
    if (!this.#actor) throw new Error('the world has no actor')
    this.#actor.send(event)
  }

  #pending<I, O>(calls: Call<I, O>[], what: string): Call<I, O> {
    const call = calls.find((c) => !c.settled && !c.signal.aborted)
    if (!call) throw new Error(`no ${what} is in flight`)
    return call
  }

  inFlight = <I, O>(calls: Call<I, O>[]) => calls.filter((c) => !c.settled && !c.signal.aborted)
  /** Initiator: the session in the handshake (opened, not ended). */
  current = () => this.sessions.find((s) => s.stage === 'hello' || s.stage === 'proved' || s.stage === 'confirmed')

  // -- what the outside world does: the initiator's side ----------------------------------------

  /** A joiner opens the pairing protocol naming the ticket (a second one while another is in the handshake is refused as busy, unseen). */
  arrive(peer: string, name: string): void {
    if (this.current()) throw new Error(`${peer} would be refused as busy: ${this.current()?.peer} is in the handshake`)
    this.sessions.push({ peer, name, stage: 'hello' })
    this.#send({ type: 'pairing.joinerArrived', peerId: peer })
  }

  /** The service checked `peer`'s proof; a report about a session not in the handshake is stale. */
  proofChecked(peer: string, valid: boolean, name: string): void {
    const session = this.current()
    if (session?.peer === peer && session.stage === 'hello') {
      if (valid) session.stage = 'proved'
      else {
        session.stage = 'refused'
        this.wrongBy.push(peer)
      }
    } else this.stale++
    this.#send({ type: 'pairing.proofChecked', peerId: peer, valid, name })
  }

  confirmed(peer: string): void {
    const session = this.current()
    if (session?.peer === peer && session.stage === 'proved') session.stage = 'confirmed'
    else this.stale++
    this.#send({ type: 'pairing.confirmed', peerId: peer })
  }

  left(peer: string): void {
    const session = this.current()
    if (session?.peer === peer && session.stage !== 'confirmed') session.stage = 'left'
    else this.stale++
    this.#send({ type: 'pairing.joinerLeft', peerId: peer, error: 'the stream was reset' })
  }

  // -- the joiner's side ------------------------------------------------------------------------

  /** The ticket's device answers the dial. */
  reach(): void {
    this.reached = true
    this.#pending(this.dials, 'dial').resolve()
  }

  unreachable(): void {
    this.#fails('unreachable', 'no route to the device')
    this.#pending(this.dials, 'dial').reject(new Error('no route to the device'))
  }

  /** The initiator proved the secret, saved us and said done. */
  handshakeDone(peerName: string): void {
    this.handshake = 'done'
    this.#pending(this.handshakes, 'handshake').resolve({ peerName })
  }

  handshakeFails(end: HandshakeEnd): void {
    this.handshake = end
    const error = HANDSHAKE_ERRORS[end].error()
    this.#fails(HANDSHAKE_ERRORS[end].failure, error.message)
    this.#pending(this.handshakes, 'handshake').reject(error)
  }

  // -- both -------------------------------------------------------------------------------------

  /** The remember in flight is on disk. */
  saved(): void {
    const call = this.#pending(this.remembers, 'remember')
    if (this.store.has(call.input.peerId)) this.violations.push(`${call.input.peerId} saved twice`)
    this.store.set(call.input.peerId, call.input.peerName)
    call.resolve()
  }

  saveFails(): void {
    this.#fails('error', 'ENOSPC: no space left on device')
    this.#pending(this.remembers, 'remember').reject(new Error('ENOSPC: no space left on device'))
  }

  cancel(): void {
    this.cancelAsked = true
    this.#send({ type: 'pairing.cancel' })
  }

  fire(ms: number): void {
    if (ms === this.settings.handshakeTimeoutMs) this.#fails('timeout', '')
    this.clock.fire(ms)
  }

  #fails(failure: PairingFailure, message: string): void {
    this.expectedFailure = failure
    this.failMessage = message
  }

  ttlFired = () => this.clock.fired.includes(this.settings.ttlMs)
  timedOut = () => this.clock.fired.includes(this.settings.handshakeTimeoutMs)
}

/** The device a joiner's ticket names, and its name. */
export const TICKET_PEER = 'peer-desk'
export const TICKET_PEER_NAME = 'desk'

export function pairingAlways(w: PairingWorld): void {
  check(w.violations.length === 0, w.violations.join('; '))
  for (const [what, calls] of [
    ['dials', w.dials],
    ['handshakes', w.handshakes],
    ['remembers', w.remembers],
  ] as const) {
    check(w.inFlight(calls as PairingWorld['dials']).length <= 1, `${w.inFlight(calls as PairingWorld['dials']).length} ${what} in flight`)
  }
  // as many penalties as wrong proofs checked for this ticket, each naming the peer that sent it
  check(
    JSON.stringify(w.penalties) === JSON.stringify(w.wrongBy),
    `penalties for ${JSON.stringify(w.penalties)}, wrong proofs came from ${JSON.stringify(w.wrongBy)}`,
  )
  check(w.store.size <= 1, `${w.store.size} peers saved by one pairing`)
  check(w.client !== undefined, 'the client saw no pairing.state')
  check(
    w.client?.wrongProofs === w.wrongBy.length,
    `the client sees ${w.client?.wrongProofs} wrong proofs, ${w.wrongBy.length} were checked`,
  )
  check(w.client?.alias === w.settings.alias && w.client.pairingId === w.settings.pairingId, 'the client sees another pairing')
  check(w.client?.role === w.settings.role, `the client sees role ${w.client?.role}`)
}

const nothingSaved = (w: PairingWorld, state: string) => {
  check(w.store.size === 0, `${state}, and ${[...w.store.keys()]} saved as known`)
}

const nothingInFlight = (w: PairingWorld, state: string) => {
  check(w.finished, `${state}, and the pairing service never saw the pairing finish`)
  check(w.inFlight(w.dials).length === 0, `${state} with a dial in flight`)
  check(w.inFlight(w.handshakes).length === 0, `${state} with a handshake in flight`)
  check(w.inFlight(w.remembers).length === 0, `${state} with a remember in flight`)
  check(w.clock.armed.size === 0, `${state} with ${w.clock.armed.size} timers armed`)
}

/** A pairing that ended without pairing: nothing saved, nothing left running, and the client told why. */
const ended = (w: PairingWorld, state: string) => {
  nothingSaved(w, state)
  nothingInFlight(w, state)
  check(typeof w.client?.error === 'string' && w.client.error.length > 0, `${state}, and the client is not told why`)
}

/** The remember in flight: exactly one, for `peer` under `name`, and nothing on disk yet. */
const savingOne = (w: PairingWorld, peer: string | undefined, name: string | undefined) => {
  const calls = w.inFlight(w.remembers)
  check(calls.length === 1, `saving with ${calls.length} remembers in flight`)
  const input = calls[0]?.input
  check(
    input !== undefined && input.peerId === peer && input.peerName === name,
    `remembering ${input?.peerId} as ${JSON.stringify(input?.peerName)}, the peer that proved is ${peer} (${name})`,
  )
  nothingSaved(w, 'saving')
}

/** The client's newest `pairing.state` push names the state the pairing is in. */
const shown = (w: PairingWorld, state: string) => {
  check(w.client?.state === state, `the client is shown ${w.client?.state}, not ${state}`)
}

/** Per state, what the world must look like (from the states' descriptions and docs/statecharts/pairing.md). */
export const pairingInvariants: Invariants<PairingWorld> = {
  start: (w) => {
    // passed through at once: the step that passed through it did nothing of a pairing yet
    nothingSaved(w, 'start')
    check(w.remembers.length === 0 && w.handshakes.length === 0, 'start, and a handshake or remember ran')
    check(w.penalties.length === 0 && w.sessions.length === 0, 'start, and a joiner was already seen')
  },
  initiator: (w) => {
    check(!w.finished, 'the pairing service saw the pairing finish while it waits for a joiner')
    check(w.settings.role === 'initiator', `an initiator state for a ${w.settings.role}`)
    check(w.clock.armedFor(w.settings.ttlMs) === 1, `the ticket's ttl armed ${w.clock.armedFor(w.settings.ttlMs)} times`)
    check(w.clock.armed.size === 1, 'a timer besides the ticket ttl armed')
    check(!w.ttlFired() && !w.cancelAsked, 'still pairing after the ticket expired or was cancelled')
    check(w.wrongBy.length < w.settings.maxWrongProofs, `still pairing after ${w.wrongBy.length} wrong proofs`)
    check(w.dials.length === 0 && w.handshakes.length === 0, 'the initiator dialled or ran a joiner handshake')
  },
  'initiator.waiting': (w) => {
    shown(w, 'waiting')
    check(w.current() === undefined, `waiting while ${w.current()?.peer} is in the handshake`)
    check(w.inFlight(w.remembers).length === 0, 'waiting with a remember in flight')
    nothingSaved(w, 'waiting')
    check(w.client?.peerId === null && w.client.peerName === null, `waiting, and the client is shown joiner ${w.client?.peerId}`)
    if (w.sessions.length > 0)
      check(typeof w.client?.error === 'string' && w.client.error.length > 0, 'a joiner ended, and the client is not told why')
  },
  'initiator.verifying': (w) => {
    shown(w, 'verifying')
    const session = w.current()
    check(session?.stage === 'hello', `verifying, and the joiner in the handshake is ${JSON.stringify(session)}`)
    check(w.inFlight(w.remembers).length === 0, 'verifying with a remember in flight')
    nothingSaved(w, 'verifying')
    check(w.client?.peerId === session.peer, `verifying ${session.peer}, the client sees ${w.client?.peerId}`)
  },
  'initiator.confirming': (w) => {
    shown(w, 'confirming')
    const session = w.current()
    check(session?.stage === 'proved', `confirming, and the joiner in the handshake is ${JSON.stringify(session)}`)
    check(w.inFlight(w.remembers).length === 0, 'confirming with a remember in flight')
    nothingSaved(w, 'confirming')
    check(
      w.client?.peerId === session.peer && w.client.peerName === session.name,
      `${session.peer} (${session.name}) proved, the client sees ${w.client?.peerId} (${w.client?.peerName})`,
    )
  },
  'initiator.saving': (w) => {
    shown(w, 'saving')
    const session = w.current()
    check(session?.stage === 'confirmed', `saving, and the joiner in the handshake is ${JSON.stringify(session)}`)
    savingOne(w, session.peer, session.name)
  },
  joiner: (w) => {
    check(!w.finished, 'the pairing service saw the pairing finish while it joins')
    check(w.settings.role === 'joiner', `a joiner state for an ${w.settings.role}`)
    const timeout = w.settings.handshakeTimeoutMs
    check(w.clock.armedFor(timeout) === 1, `the handshake timeout armed ${w.clock.armedFor(timeout)} times`)
    check(w.clock.armed.size === 1, 'a timer besides the handshake timeout armed')
    check(!w.timedOut() && !w.cancelAsked, 'still joining after the timeout or a cancel')
    check(w.penalties.length === 0 && w.sessions.length === 0, 'a joiner answered joiners')
    check(w.client?.peerId === TICKET_PEER, `joining ${w.client?.peerId}, the ticket names ${TICKET_PEER}`)
  },
  'joiner.dialing': (w) => {
    shown(w, 'dialing')
    const dials = w.inFlight(w.dials)
    check(
      dials.length === 1 && dials[0]?.input.peerId === TICKET_PEER,
      `dialing: ${dials.map((d) => d.input.peerId)} in flight, want ${TICKET_PEER}`,
    )
    check(w.handshakes.length === 0, 'dialing, and a handshake started')
    check(w.remembers.length === 0, 'dialing, and a remember started')
    nothingSaved(w, 'dialing')
  },
  'joiner.handshaking': (w) => {
    shown(w, 'handshaking')
    check(w.reached, 'handshaking with a device the dial never reached')
    check(w.inFlight(w.dials).length === 0, 'handshaking with a dial in flight')
    const handshakes = w.inFlight(w.handshakes)
    check(handshakes.length === 1, `handshaking with ${handshakes.length} handshakes in flight`)
    const input = handshakes[0]?.input
    check(
      input?.peerId === TICKET_PEER && input.name === w.settings.name,
      `handshaking with ${input?.peerId} as ${input?.name}, want ${TICKET_PEER} as ${w.settings.name}`,
    )
    check(w.remembers.length === 0, 'handshaking, and a remember started')
    nothingSaved(w, 'handshaking')
  },
  'joiner.saving': (w) => {
    shown(w, 'saving')
    check(w.handshake === 'done', `saving, and the handshake ended ${w.handshake}`)
    check(w.inFlight(w.dials).length === 0 && w.inFlight(w.handshakes).length === 0, 'saving with a dial or handshake in flight')
    savingOne(w, TICKET_PEER, TICKET_PEER_NAME)
  },
  paired: (w) => {
    shown(w, 'paired')
    nothingInFlight(w, 'paired')
    const peer = w.settings.role === 'joiner' ? TICKET_PEER : w.sessions.find((s) => s.stage === 'confirmed')?.peer
    const name = w.settings.role === 'joiner' ? TICKET_PEER_NAME : w.sessions.find((s) => s.stage === 'confirmed')?.name
    check(peer !== undefined, 'paired, and no joiner confirmed')
    check(
      w.store.size === 1 && w.store.get(peer) === name,
      `paired with ${peer} (${name}), the store holds ${JSON.stringify([...w.store])}`,
    )
    check(w.client?.peerId === peer && w.client.peerName === name, `the client sees ${w.client?.peerId} (${w.client?.peerName})`)
    check(w.client?.error === null && w.client.failure === null, `paired, and the client sees error ${w.client?.error}`)
    check(!w.cancelAsked && !w.ttlFired() && !w.timedOut(), 'paired after a cancel, the ttl or the timeout')
  },
  expired: (w) => {
    shown(w, 'expired')
    ended(w, 'expired')
    check(w.ttlFired(), 'expired, and the ticket ttl never fired')
    check(w.settings.role === 'initiator', 'a joiner expired')
  },
  cancelled: (w) => {
    shown(w, 'cancelled')
    ended(w, 'cancelled')
    check(
      w.cancelAsked || w.wrongBy.length === w.settings.maxWrongProofs,
      `cancelled with no client asking, after ${w.wrongBy.length} wrong proofs (limit ${w.settings.maxWrongProofs})`,
    )
    check(w.client?.failure === null, `cancelled, and the client sees failure ${w.client?.failure}`)
  },
  failed: (w) => {
    shown(w, 'failed')
    ended(w, 'failed')
    check(w.expectedFailure !== undefined, 'failed, and nothing in the world failed')
    check(w.client?.failure === w.expectedFailure, `the client sees failure ${w.client?.failure}, the world did ${w.expectedFailure}`)
    // the cause's own words, not its class name
    const error = w.client?.error ?? ''
    check(
      error.endsWith(w.failMessage ?? '') && !error.includes('Error'),
      `the client is told ${JSON.stringify(error)}, the world said ${w.failMessage}`,
    )
  },
}

export function pairingWorld(input: PairingInput) {
  const world = new PairingWorld(input)
  return { world, machine: pairingMachine.provide(world.effects), clock: world.clock, attach: world.attach }
}
