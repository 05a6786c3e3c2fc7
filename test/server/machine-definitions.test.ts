import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AnyStateMachine, type AnyStateNode, type AnyTransitionDefinition, createMachine, type StateValue } from 'xstate'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { machineKinds } from '../../src/machines/catalog.ts'
import { isTimerBookkeeping, type MachineDefinition, machineDefinition } from '../../src/machines/definition.ts'
import { peerMachine } from '../../src/machines/peer/peer.machine.ts'
import type { PeerState } from '../../src/server/peer-state.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { PeerStates, teachAddress } from '../support/peers.ts'
import { watchActors } from '../support/watch-actors.ts'

// ---------- the shape of a machine, read from xstate's state nodes (independent of definition.ts) ----------

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child as AnyStateNode))]
}

/** A name for a guard or action as either machine holds it: named ones by name, inline ones as `inline`. */
function effectName(effect: unknown): string {
  if (typeof effect === 'string') return effect.startsWith('inline:') ? 'inline' : effect
  const type = (effect as { type?: unknown } | undefined)?.type
  if (typeof type === 'string') return type
  return 'inline'
}

const actionNames = (actions: readonly unknown[]) => actions.filter((a) => !isTimerBookkeeping(a)).map(effectName)

function transitionShape(t: AnyTransitionDefinition) {
  return {
    event: t.eventType,
    targets: (t.target ?? []).map((n: AnyStateNode) => n.id),
    guard: t.guard === undefined ? null : effectName(t.guard),
    actions: actionNames(t.actions),
    reenter: t.reenter,
  }
}

/** Every state node with its type, initial child, tags, texts, invokes and transitions, in document order. */
function shape(machine: AnyStateMachine) {
  return allNodes(machine.root).map((node) => ({
    id: node.id,
    type: node.type,
    initial: node.initial?.target?.map((n: AnyStateNode) => n.id) ?? null,
    tags: [...node.tags].sort(),
    description: node.description ?? null,
    meta: node.meta ?? null,
    entry: actionNames(node.entry),
    exit: actionNames(node.exit),
    invoke: node.invoke.map((i) => ({ id: i.id, src: i.src })),
    events: [...node.transitions.keys()].sort(),
    transitions: [...[...node.transitions.values()].flat(), ...(node.always ?? [])].map(transitionShape),
  }))
}

// ---------- what a rebuilt machine allows: structural steps, every guard taken as possibly true ----------

/** Every state node active in a (resolved) state value, the root included. */
function configuration(machine: AnyStateMachine, value: StateValue): AnyStateNode[] {
  const walk = (node: AnyStateNode, v: StateValue): AnyStateNode[] => {
    if (typeof v === 'string') {
      const child = node.states[v] as AnyStateNode | undefined
      if (!child) throw new Error(`${node.id} has no state ${v}`)
      return [child]
    }
    return Object.entries(v).flatMap(([key, inner]) => {
      const child = node.states[key] as AnyStateNode | undefined
      if (!child) throw new Error(`${node.id} has no state ${key}`)
      return [child, ...(inner === undefined ? [] : walk(child, inner as StateValue))]
    })
  }
  return [machine.root, ...walk(machine.root, value)]
}

const resolve = (machine: AnyStateMachine, value: StateValue): StateValue =>
  machine.resolveState({ value, context: {} }).value as StateValue

/** The value of entering `target` (its initial descendants filled in). */
function entered(machine: AnyStateMachine, target: AnyStateNode): StateValue {
  const value = target.path.slice(0, -1).reduceRight<StateValue>((inner, key) => ({ [key]: inner }), target.path.at(-1) ?? '')
  return resolve(machine, value)
}

const key = (value: unknown) => JSON.stringify(value)

type Values = Map<string, StateValue>

const valuesOf = (...values: StateValue[]): Values => new Map(values.map((v) => [key(v), v]))

/** The resolved initial state of a machine. */
const initialValue = (machine: AnyStateMachine): StateValue => resolve(machine, machine.root.initial?.target?.[0]?.key ?? '')

/**
 * One microstep on an event (XState emits one per event, transitions or none): each candidate
 * stays (no transition enabled, or one without a target) or moves to a target of a transition for
 * that event in any active state, every guard taken as possibly true.
 */
function eventStep(machine: AnyStateMachine, from: Values, eventType: string): Values {
  const next = new Map(from)
  for (const value of from.values()) {
    for (const node of configuration(machine, value)) {
      for (const [descriptor, list] of node.transitions) {
        const matches =
          descriptor === eventType || descriptor === '*' || (descriptor.endsWith('.*') && eventType.startsWith(descriptor.slice(0, -1)))
        if (!matches) continue
        for (const t of list) for (const target of t.target ?? []) next.set(key(entered(machine, target)), entered(machine, target))
      }
    }
  }
  return next
}

/** One eventless microstep: an `always` transition of an active state was taken (a targetless one stays). */
function alwaysStep(machine: AnyStateMachine, from: Values): Values {
  const next: Values = new Map()
  for (const value of from.values()) {
    for (const node of configuration(machine, value)) {
      for (const t of node.always ?? []) {
        if (!t.target?.length) next.set(key(value), value)
        for (const target of t.target ?? []) next.set(key(entered(machine, target)), entered(machine, target))
      }
    }
  }
  return next
}

// ---------- the tests ----------

const kinds = machineKinds.map((k) => [k.kind, k.machine] as const)

describe('machine definitions a client can run', () => {
  it.each(kinds)('%s: createMachine accepts the JSON definition and has the same states and transitions', (_, machine) => {
    const definition = JSON.parse(JSON.stringify(machineDefinition(machine)))
    const rebuilt = createMachine(definition)
    expect(rebuilt.id).toBe(machine.id)
    expect(shape(rebuilt)).toEqual(shape(machine))
    // the rebuilt machine's definition is the one it came from: nothing lost or added on the way
    expect(machineDefinition(rebuilt)).toEqual(definition)
  })

  it.each(kinds)('%s: every state of the rebuilt machine resolves to itself with its tags', (_, machine) => {
    const rebuilt = createMachine(JSON.parse(JSON.stringify(machineDefinition(machine))))
    for (const node of allNodes(machine.root).filter((n) => n.type === 'atomic')) {
      const value = entered(machine, node)
      const snapshot = rebuilt.resolveState({ value, context: {} })
      expect(snapshot.value).toEqual(value)
      expect([...snapshot.tags].sort()).toEqual([...machine.resolveState({ value, context: {} }).tags].sort())
    }
  })

  it('the structural steps are strict enough to catch a wrong state', () => {
    const peer = createMachine(JSON.parse(JSON.stringify(machineDefinition(peerMachine))))
    const keys = (values: Values) => new Set(values.keys())
    const dial = peer.root.states.connecting?.invoke[0]?.id
    expect(keys(eventStep(peer, valuesOf('connecting'), `xstate.error.actor.${dial}`))).toEqual(
      new Set(['"connecting"', '"retrying"', '"backoff"', '"failed"', '"disconnected"']),
    )
    expect(keys(eventStep(peer, valuesOf({ connected: 'idle' }), 'peer.disconnected'))).not.toContain('"failed"')
    expect(keys(eventStep(peer, valuesOf('backoff'), 'xstate.after.retryDelay.peer.backoff'))).toEqual(
      new Set(['"backoff"', '"connecting"']),
    )
    expect(keys(eventStep(peer, valuesOf('backoff'), 'xstate.after.explicitRetry.peer.retrying'))).toEqual(new Set(['"backoff"']))
    // an eventless microstep: disconnected and failed dial a wanted peer at once; backoff has no always
    expect(keys(alwaysStep(peer, valuesOf('disconnected', 'failed', 'backoff')))).toEqual(new Set(['"connecting"']))
    expect(initialValue(peer)).toBe('disconnected')
  })
})

interface InspectPush {
  type: string
  actorId: string | null
  event?: { type: string }
  value?: unknown
  status?: string | null
}

interface Disagreement {
  systemId: string
  from: unknown
  event: string
  to: unknown
  why: string
}

/**
 * A client that rebuilds every machine from `machines.list` and follows every actor from the
 * pushes: each `actor.snapshot` must resolve in the rebuilt machine (same value, same tags); each
 * macrostep the daemon takes is followed microstep by microstep from `inspect.event` pushes (the
 * event's own step, then one per `always` transition taken), and the state the `@xstate.snapshot`
 * reports must be one the rebuilt machine allows after those microsteps from the state before; the
 * value pushed as `actor.snapshot` must be that state.
 */
class LockstepClient {
  readonly disagreements: Disagreement[] = []
  /** Per systemId, the observed steps `from --event--> to` with from !== to. */
  readonly steps = new Map<string, string[]>()
  readonly #machines = new Map<string, AnyStateMachine>()
  readonly #current = new Map<string, StateValue>()
  readonly #pushed = new Map<string, ActorSnapshot>()
  /** Per systemId, the macrostep under way: its event, the microsteps so far and the states they allow. */
  readonly #macro = new Map<string, { event: string; microsteps: number; allowed: Values | undefined }>()
  #ready = false
  checked = 0
  microsteps = 0

  private constructor(readonly client: SwitchboardClient) {}

  static async start(client: SwitchboardClient, edit?: (kind: string, definition: MachineDefinition) => void): Promise<LockstepClient> {
    const self = new LockstepClient(client)
    const { machines } = await client.call<{ machines: { kind: string; definition: MachineDefinition }[] }>('machines.list')
    for (const m of machines) {
      edit?.(m.kind, m.definition)
      self.#machines.set(m.kind, createMachine(m.definition))
    }
    client.on<InspectPush>('inspect.event', (ev) => self.#onInspect(ev))
    client.on<ActorSnapshot>('actor.snapshot', (s) => self.#onSnapshot(s))
    // a stopped actor may still report its last (final) snapshot: keep its state, forget its push
    client.on<{ systemId: string }>('actor.stopped', (s) => self.#pushed.delete(s.systemId))
    await client.call('inspect.subscribe')
    const { actors } = await client.call<{ actors: ActorSnapshot[] }>('actors.subscribe', {})
    for (const s of actors) {
      self.#resolves(s)
      self.#current.set(s.systemId, s.value as StateValue)
      self.#pushed.set(s.systemId, s)
    }
    self.#ready = true
    return self
  }

  #machineOf(systemId: string): AnyStateMachine | undefined {
    return this.#machines.get(systemId.split(':')[0] ?? '')
  }

  #resolves(s: ActorSnapshot): void {
    const machine = this.#machines.get(s.kind)
    if (!machine) {
      this.#disagree(s.systemId, null, 'actor.snapshot', s.value, `no definition for kind ${s.kind}`)
      return
    }
    try {
      const resolved = machine.resolveState({ value: s.value as StateValue, context: s.context as never })
      if (key(resolved.value) !== key(s.value))
        this.#disagree(s.systemId, null, 'actor.snapshot', s.value, `resolves to ${key(resolved.value)}`)
      const tags = [...resolved.tags].sort()
      if (key(tags) !== key(s.tags))
        this.#disagree(s.systemId, null, 'actor.snapshot', s.value, `tags ${key(s.tags)}, rebuilt ${key(tags)}`)
    } catch (err) {
      this.#disagree(s.systemId, null, 'actor.snapshot', s.value, String(err))
    }
  }

  #onSnapshot(s: ActorSnapshot): void {
    if (!this.#ready) return
    this.#resolves(s)
    this.#pushed.set(s.systemId, s)
  }

  #onInspect(ev: InspectPush): void {
    if (!this.#ready || !ev.actorId) return
    const machine = this.#machineOf(ev.actorId)
    if (!machine) return
    if (ev.type === '@xstate.microstep') this.#onMicrostep(machine, ev.actorId, ev.event?.type ?? '?')
    else if (ev.type === '@xstate.snapshot' && ev.value !== null && ev.value !== undefined) this.#onMacrostep(machine, ev)
  }

  #onMicrostep(machine: AnyStateMachine, systemId: string, event: string): void {
    this.microsteps++
    const macro = this.#macro.get(systemId)
    if (!macro) {
      // the first microstep of a macrostep: the event's own, or (starting up) an always from the initial state
      const from = this.#current.get(systemId)
      const allowed =
        event === 'xstate.init'
          ? alwaysStep(machine, valuesOf(initialValue(machine)))
          : from === undefined
            ? undefined
            : eventStep(machine, valuesOf(from), event)
      this.#macro.set(systemId, { event, microsteps: 1, allowed })
      return
    }
    macro.microsteps++
    if (!macro.allowed) return
    // more microsteps on the same event are always transitions; another type is a raised event
    macro.allowed = event === macro.event ? alwaysStep(machine, macro.allowed) : eventStep(machine, macro.allowed, event)
    macro.event = event
  }

  #onMacrostep(machine: AnyStateMachine, ev: InspectPush): void {
    const systemId = ev.actorId as string
    const from = this.#current.get(systemId)
    const to = ev.value as StateValue
    const event = ev.event?.type ?? '?'
    const macro = this.#macro.get(systemId)
    this.#macro.delete(systemId)
    this.checked++
    // a start without always transitions has no microstep; any other macrostep has at least one
    const allowed = macro?.allowed ?? (event === 'xstate.init' ? valuesOf(initialValue(machine)) : undefined)
    if (!allowed) this.#disagree(systemId, from, event, to, 'a step from a state never seen')
    else if (!allowed.has(key(to))) {
      this.#disagree(
        systemId,
        from,
        event,
        to,
        `not allowed after ${macro?.microsteps ?? 0} microsteps; allowed ${[...allowed.keys()].join(' ')}`,
      )
    }
    // the registry pushes a changed view before the inspector hears of it: the client's view is this value
    const pushed = this.#pushed.get(systemId)
    if (ev.status === 'active' && key(pushed?.value) !== key(to)) this.#disagree(systemId, from, event, to, `pushed ${key(pushed?.value)}`)
    if (key(from) !== key(to)) {
      const list = this.steps.get(systemId) ?? []
      list.push(`${key(from)} --${event}--> ${key(to)}`)
      this.steps.set(systemId, list)
    }
    this.#current.set(systemId, to)
  }

  #disagree(systemId: string, from: unknown, event: string, to: unknown, why: string): void {
    this.disagreements.push({ systemId, from, event, to, why })
  }

  /** The states an actor was seen in, in order. */
  visited(systemId: string): string[] {
    return (this.steps.get(systemId) ?? []).map((s) => s.split('--> ')[1] ?? '')
  }
}

describe('a client rebuilt from machines.list stays in lockstep with live actors', () => {
  let a: TestDaemon
  let b: TestDaemon | undefined

  beforeAll(async () => {
    a = await startTestDaemon({ dhtBootstrapTimeoutMs: 500, connectRetryMs: 100, topicMeshTimeoutMs: 200, peerRetryMaxMs: 400 })
  })
  afterAll(async () => {
    await b?.destroy()
    await a?.destroy()
  })

  it('follows the dht, peer, topic and every other actor through connect, loss, retries, hold, failure and a topic', async () => {
    // subscribe once the DHT has given up its first bootstrap (nothing else moves on an idle daemon)
    const watcher = await a.client()
    const watch = await watchActors(watcher, 'dht:')
    await watch.until('dht:peer-a', (s) => s.value === 'degraded')
    watch.stop()

    const client = await a.client()
    const lockstep = await LockstepClient.start(client)
    // a second client with one transition broken (backoff's retry goes to failed) must notice
    const broken = await LockstepClient.start(await a.client(), (kind, definition) => {
      const retry = definition.states?.backoff?.after?.retryDelay?.[0]
      if (kind === 'peer' && retry) retry.target = '#peer.failed'
    })
    const states = await PeerStates.bind(client)
    b = await startTestDaemon()
    const bId = b.peerId
    const peerId = `peer:peer-a:${bId}`
    teachAddress(a, b)

    // connect: the peer actor is born, dials, connects; the DHT bootstraps again and is ready
    expect(await client.call('peers.connect', { peerId: bId })).toMatchObject({ success: true })
    await states.until(bId, (s) => s.status === 'connected')
    await client.call('actors.send', { systemId: 'dht:peer-a', event: { type: 'dht.bootstrap' } })
    const dhtWatch = await watchActors(watcher, 'dht:')
    await dhtWatch.until('dht:peer-a', (s) => s.value === 'ready')
    dhtWatch.stop()
    // a topic: joining, the mesh timeout, subscribed, then leaving
    await client.call('subscribe', { topic: 'lockstep' })
    await client.call('unsubscribe', { topic: 'lockstep' })

    // wanted, then lost: backoff, a retry that fails, backoff again
    await client.call<PeerState>('peers.update', { peerId: bId, known: true, autoConnect: true })
    await b.destroy()
    b = undefined
    await states.until(bId, (s) => s.status === 'backoff' && s.failures >= 2)
    // held by a disconnect, then an explicit connect that fails all its tries
    await client.call('peers.disconnect', { peerId: bId })
    await states.until(bId, (s) => s.status === 'disconnected' && s.held)
    // no longer wanted, so the explicit connect's last failed try ends in failed, not backoff
    await client.call<PeerState>('peers.update', { peerId: bId, autoConnect: false })
    expect(await client.call('peers.connect', { peerId: bId })).toMatchObject({ success: false })
    await states.until(bId, (s) => s.status === 'failed')
    // the last pushes are in: a round trip after them
    await client.call('actors.list', { prefix: peerId })

    expect(lockstep.disagreements).toEqual([])
    expect(broken.disagreements).toContainEqual(
      expect.objectContaining({ systemId: peerId, from: 'backoff', event: 'xstate.after.retryDelay.peer.backoff', to: 'connecting' }),
    )
    const peerStates = new Set(lockstep.visited(peerId))
    for (const state of ['"connecting"', '{"connected":"idle"}', '"backoff"', '"disconnected"', '"retrying"', '"failed"']) {
      expect(peerStates, [...peerStates].join(' ')).toContain(state)
    }
    const dhtStates = new Set(lockstep.visited('dht:peer-a'))
    for (const state of ['"bootstrapping"', '"ready"']) expect(dhtStates, [...dhtStates].join(' ')).toContain(state)
    expect(lockstep.steps.get('topic:peer-a:lockstep')?.length ?? 0).toBeGreaterThanOrEqual(3)
    expect(lockstep.checked).toBeGreaterThan(20)
    expect(lockstep.microsteps).toBeGreaterThan(20)
  })
})
