import { describe, expect, it } from 'vitest'
import { type AnyActorRef, createActor, SimulatedClock } from 'xstate'
import { parentSystemId, parseSystemId, systemIds } from '../../src/machines/actor-ids.ts'
import { prunerMachine } from '../../src/machines/pruner/pruner.machine.ts'
import type { PruneRound, PrunerEvent, PrunerInput } from '../../src/machines/pruner/pruner.types.ts'
import { controlledCallback, controlledPromise } from '../support/fakes.ts'
import { everyTransition, transitionKeyOf } from '../support/model.ts'

interface Conn {
  id: number
  protected: boolean
  openedAt: number
}

const INPUT: PrunerInput = { alias: 'a', high: 3, low: 2, graceMs: 1_000 }

/**
 * A fake world for the pruner actor: connections that open and close on a simulated clock, and a
 * round that really closes what the plan says (unprotected, out of their grace period, down to the
 * low watermark). After every step the invariants of the state the actor is in are checked against
 * the world, not against the machine.
 */
function prunerWorld(input: PrunerInput = INPUT) {
  const clock = new SimulatedClock()
  const watch = controlledCallback<{ alias: string }, PrunerEvent>('watchConnections')
  const round = controlledPromise<PruneRound, PrunerInput>('pruneRound')
  const machine = prunerMachine.provide({ actors: { watchConnections: watch.logic, pruneRound: round.logic } })
  let root: unknown
  const actor = createActor(machine, {
    input,
    clock,
    inspect: (e) => {
      if (e.type === '@xstate.microstep' && e.actorRef === root) for (const t of e._transitions) taken.add(transitionKeyOf(t))
    },
  })
  root = actor
  let conns: Conn[] = []
  let next = 0
  const visited = new Set<string>()
  const violations: string[] = []
  const report = () => watch.latest().sendBack({ type: 'pruner.connections', count: conns.length })
  const roundsInFlight = () => round.calls.filter((c) => !c.settled && !c.signal.aborted).length
  const young = () => conns.filter((c) => !c.protected && clock.now() - c.openedAt < input.graceMs)

  /** After a step of the world: the count the actor knows is the world's. */
  const check = () => {
    invariants()
    const s = actor.getSnapshot()
    if (s.context.connections !== conns.length && s.status === 'active')
      violations.push(`context counts ${s.context.connections}, the world has ${conns.length}`)
  }
  /** In every snapshot: what each state says about the world. */
  const invariants = () => {
    const s = actor.getSnapshot()
    const state = String(s.value)
    visited.add(state)
    const inFlight = roundsInFlight()
    if (state === 'pruning' && inFlight !== 1) violations.push(`pruning with ${inFlight} rounds in flight`)
    if (state !== 'pruning' && inFlight !== 0) violations.push(`${state} with a round in flight`)
    if (state === 'idle' && conns.length > input.high) {
      // only protection (or a failed round) may leave it above the watermark while idle
      const closable = conns.filter((c) => !c.protected).length
      if (closable > 0 && young().length === 0 && s.context.lastError === null)
        violations.push(`idle above the high watermark with ${closable} closable connections`)
    }
    if (state === 'grace' && conns.every((c) => c.protected)) violations.push('waiting out a grace period nobody is in')
  }

  actor.subscribe(invariants)
  actor.start()
  return {
    actor,
    clock,
    round,
    watch,
    visited,
    violations,
    conns: () => conns,
    open(opts: { protected?: boolean; young?: boolean } = {}) {
      conns.push({ id: next++, protected: opts.protected ?? false, openedAt: opts.young ? clock.now() : clock.now() - input.graceMs })
      report()
      check()
    },
    close() {
      conns = conns.slice(1)
      report()
      check()
    },
    /** The round in flight does what the real one does, then settles. */
    async finishRound() {
      const call = round.pending()
      const now = clock.now()
      const candidates = conns.filter((c) => !c.protected && now - c.openedAt >= input.graceMs)
      const spared = conns.filter((c) => !c.protected && now - c.openedAt < input.graceMs)
      const excess = Math.max(0, conns.length - input.low)
      const closing = new Set(candidates.slice(0, excess).map((c) => c.id))
      conns = conns.filter((c) => !closing.has(c.id))
      // libp2p reports each close while the round still runs
      if (closing.size > 0) report()
      const nextMature = spared.length > 0 ? Math.min(...spared.map((c) => c.openedAt + input.graceMs)) : undefined
      call.resolve({
        closed: closing.size,
        protected: conns.filter((c) => c.protected).length,
        young: spared.length,
        recheckInMs: nextMature === undefined ? null : nextMature - now + 10,
      })
      await settled(actor)
      check()
    },
    advance(ms: number) {
      clock.increment(ms)
      check()
    },
  }
}

/** Transitions the real actors of every walk in this file took. */
const taken = new Set<string>()

/** Let the promise actor's settlement reach the machine (a settled promise is delivered within one macrotask). */
const settled = async (_actor: AnyActorRef) => {
  await new Promise((resolve) => setImmediate(resolve))
}

describe('pruner machine against a fake world', () => {
  it('idle at or below the high watermark; a connection above it starts a round that closes down to the low watermark', async () => {
    const w = prunerWorld()
    for (let i = 0; i < 3; i++) w.open()
    expect(w.actor.getSnapshot().value).toBe('idle')
    w.open()
    expect(w.actor.getSnapshot().value).toBe('pruning')
    expect(w.round.pending().input).toEqual(INPUT)
    await w.finishRound()
    expect(w.conns()).toHaveLength(2)
    expect(w.actor.getSnapshot().value).toBe('idle')
    expect(w.actor.getSnapshot().context).toMatchObject({ pruned: 2, rounds: 1, connections: 2 })
    expect(w.violations).toEqual([])
  })

  it('rounds never overlap: a connection above the watermark during a round asks for another right after', async () => {
    const w = prunerWorld()
    for (let i = 0; i < 4; i++) w.open()
    expect(w.actor.getSnapshot().value).toBe('pruning')
    w.open()
    w.open()
    expect(w.round.calls).toHaveLength(1)
    expect(w.actor.getSnapshot().context.again).toBe(true)
    await w.finishRound()
    // the round closed down to 2; the second round finds nothing above the watermark
    expect(w.actor.getSnapshot().value).toBe('pruning')
    expect(w.round.calls).toHaveLength(2)
    await w.finishRound()
    expect(w.actor.getSnapshot().value).toBe('idle')
    expect(w.violations).toEqual([])
  })

  it('spares young connections and looks again when the youngest matures (grace)', async () => {
    const w = prunerWorld()
    for (let i = 0; i < 2; i++) w.open({ protected: true })
    for (let i = 0; i < 2; i++) w.open({ young: true })
    expect(w.actor.getSnapshot().value).toBe('pruning')
    await w.finishRound()
    expect(w.conns()).toHaveLength(4)
    expect(w.actor.getSnapshot().value).toBe('grace')
    w.advance(1_009)
    expect(w.actor.getSnapshot().value).toBe('grace')
    w.advance(1)
    expect(w.actor.getSnapshot().value).toBe('pruning')
    await w.finishRound()
    expect(w.conns().filter((c) => !c.protected)).toHaveLength(0)
    expect(w.actor.getSnapshot().value).toBe('idle')
    expect(w.violations).toEqual([])
  })

  it('in grace, a new connection above the watermark starts a round at once; a grace that ends at or below it goes idle', async () => {
    const w = prunerWorld()
    w.open({ protected: true })
    w.open({ protected: true })
    w.open({ young: true })
    w.open({ young: true })
    await w.finishRound()
    expect(w.actor.getSnapshot().value).toBe('grace')
    w.open()
    expect(w.actor.getSnapshot().value).toBe('pruning')
    await w.finishRound()
    expect(w.actor.getSnapshot().value).toBe('grace')
    w.close()
    w.close()
    w.advance(2_000)
    expect(w.actor.getSnapshot().value).toBe('idle')
    expect(w.violations).toEqual([])
  })

  it('pruner.check starts a round only above the watermark; a failed round is recorded and leaves it idle', async () => {
    const w = prunerWorld()
    w.actor.send({ type: 'pruner.check' })
    expect(w.actor.getSnapshot().value).toBe('idle')
    for (let i = 0; i < 4; i++) w.open({ protected: true })
    // all protected: the round closes nothing and the pruner rests above the watermark
    await w.finishRound()
    expect(w.actor.getSnapshot().value).toBe('idle')
    w.actor.send({ type: 'pruner.check' })
    expect(w.actor.getSnapshot().value).toBe('pruning')
    w.actor.send({ type: 'pruner.check' })
    expect(w.actor.getSnapshot().context.again).toBe(true)
    w.round.reject(new Error('peer store closed'))
    await settled(w.actor)
    expect(w.actor.getSnapshot().value).toBe('idle')
    expect(w.actor.getSnapshot().context.lastError).toBe('peer store closed')
    w.open({ young: true })
    await w.finishRound()
    w.actor.send({ type: 'pruner.check' })
    expect(w.actor.getSnapshot().value).toBe('pruning')
    expect(w.violations).toEqual([])
  })

  it('stops from any state, aborting a round in flight and its watch', async () => {
    for (const reach of ['idle', 'pruning', 'grace'] as const) {
      const w = prunerWorld()
      if (reach !== 'idle') {
        w.open({ protected: true })
        w.open({ protected: true })
        w.open({ young: true })
        w.open({ young: true })
      }
      if (reach === 'grace') await w.finishRound()
      expect(w.actor.getSnapshot().value).toBe(reach)
      w.actor.send({ type: 'pruner.stop' })
      expect(w.actor.getSnapshot().status).toBe('done')
      expect(w.watch.live()).toEqual([])
      expect(w.round.calls.every((c) => c.settled || c.signal.aborted)).toBe(true)
    }
  })

  it('every state is reached by the walks above', async () => {
    const w = prunerWorld()
    w.open({ protected: true })
    w.open({ protected: true })
    w.open({ young: true })
    w.open({ young: true })
    await w.finishRound()
    w.actor.send({ type: 'pruner.stop' })
    expect([...w.visited].sort()).toEqual(Object.keys(prunerMachine.root.states).sort())
  })

  it('every transition of the definition was taken by a real actor in the walks above', () => {
    expect(everyTransition(prunerMachine).filter((t) => !taken.has(t))).toEqual([])
  })
})

describe('presence and pruner ids', () => {
  it('one of each per node, under the node', () => {
    expect(systemIds.presence('peer-a')).toBe('presence:peer-a')
    expect(systemIds.pruner('peer-a')).toBe('pruner:peer-a')
    expect(parseSystemId('presence:peer-a')).toEqual({ kind: 'presence', alias: 'peer-a' })
    expect(parseSystemId('pruner:peer-a')).toEqual({ kind: 'pruner', alias: 'peer-a' })
    expect(parseSystemId('pruner:peer-a:x')).toBeUndefined()
    expect(parentSystemId('presence:peer-a')).toBe('node:peer-a')
    expect(parentSystemId('pruner:peer-a')).toBe('node:peer-a')
  })
})
