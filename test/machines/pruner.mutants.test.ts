import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import { prunerMachine, prunerPublicContext } from '../../src/machines/pruner/pruner.machine.ts'
import type { PruneRound, PrunerEvent, PrunerInput } from '../../src/machines/pruner/pruner.types.ts'
import { controlledCallback, controlledPromise } from '../support/fakes.ts'

// Edges of the pruner's rules that the walks in pruner.machine.test.ts do not pin down (found by npm run mutate).
const INPUT: PrunerInput = { alias: 'a', high: 3, low: 2, graceMs: 1_000 }
const round = (over: Partial<PruneRound> = {}): PruneRound => ({ closed: 0, protected: 0, young: 0, recheckInMs: null, ...over })
const tick = () => new Promise((resolve) => setImmediate(resolve))

function pruner() {
  const clock = new SimulatedClock()
  const watch = controlledCallback<{ alias: string }, PrunerEvent>('watchConnections')
  const rounds = controlledPromise<PruneRound, PrunerInput>('pruneRound')
  const actor = createActor(prunerMachine.provide({ actors: { watchConnections: watch.logic, pruneRound: rounds.logic } }), {
    input: INPUT,
    clock,
  })
  actor.start()
  const count = (n: number) => watch.latest().sendBack({ type: 'pruner.connections', count: n })
  const state = () => actor.getSnapshot().value
  return { actor, clock, watch, rounds, count, state }
}

describe('pruner edges', () => {
  it('watches the connections of its own node', () => {
    const p = pruner()
    expect(p.watch.latest().input).toEqual({ alias: 'a' })
  })

  it('a count exactly at the high watermark is not above it, by event or by pruner.check', () => {
    const p = pruner()
    p.count(3)
    p.actor.send({ type: 'pruner.check' })
    expect(p.state()).toBe('idle')
    expect(p.rounds.calls).toHaveLength(0)
  })

  it('during a round, only a connection that opens above the watermark asks for another round', async () => {
    const p = pruner()
    p.count(5)
    expect(p.state()).toBe('pruning')
    p.count(4) // a close while the round runs
    p.count(4) // a report that changes nothing
    expect(p.actor.getSnapshot().context.again).toBe(false)
    p.actor.send({ type: 'pruner.check' }) // still above: this one asks
    expect(p.actor.getSnapshot().context.again).toBe(true)
    p.rounds.resolve(round({ closed: 2 }))
    await tick()
    expect(p.state()).toBe('pruning')
    expect(p.rounds.calls).toHaveLength(2)
    p.count(3) // below: nothing more to ask
    p.count(3)
    p.actor.send({ type: 'pruner.check' })
    expect(p.actor.getSnapshot().context.again).toBe(false)
    p.rounds.resolve(round({ closed: 1 }))
    await tick()
    expect(p.state()).toBe('idle')
    // both rounds are counted, the first one too
    expect(p.actor.getSnapshot().context).toMatchObject({ rounds: 2, pruned: 3, connections: 3 })
  })

  it('a rising count that stays at or below the watermark during a round asks for nothing', async () => {
    const p = pruner()
    p.count(4)
    p.count(2)
    p.count(3)
    expect(p.actor.getSnapshot().context.again).toBe(false)
    p.rounds.resolve(round())
    await tick()
    expect(p.state()).toBe('idle')
    expect(p.rounds.calls).toHaveLength(1)
  })

  it('in grace, pruner.check at or below the watermark keeps waiting', async () => {
    const p = pruner()
    p.count(4)
    p.rounds.resolve(round({ young: 1, recheckInMs: 500 }))
    await tick()
    expect(p.state()).toBe('grace')
    p.count(3)
    p.actor.send({ type: 'pruner.check' })
    expect(p.state()).toBe('grace')
    p.clock.increment(500)
    expect(p.state()).toBe('idle')
  })

  it('shows clients its watermarks, counts, last round and last error', async () => {
    const p = pruner()
    p.count(4)
    p.rounds.resolve(round({ closed: 2 }))
    await tick()
    expect(prunerPublicContext(p.actor.getSnapshot().context)).toEqual({
      alias: 'a',
      high: 3,
      low: 2,
      graceMs: 1_000,
      connections: 4,
      pruned: 2,
      rounds: 1,
      lastRound: round({ closed: 2 }),
      lastError: null,
    })
  })
})
