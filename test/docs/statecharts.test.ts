import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import { afterEach, describe, expect, it } from 'vitest'
import { and, assign, fromPromise, not, setup } from 'xstate'
import { findStale, STATECHARTS_DIR } from '../../scripts/statecharts.ts'
import { type MachineKind, machineKinds } from '../../src/machines/catalog.ts'
import { mermaidOf, statechartFiles, statechartJson, statechartMarkdown } from '../../scripts/statechart-doc.ts'

/** A machine with every feature the generator has to draw. */
const sample = setup({
  types: { context: {} as { n: number }, events: {} as { type: 'go' } | { type: 'stop' } | { type: 'tick' } | { type: 'any.thing' } },
  actors: { load: fromPromise(async () => 1) },
  guards: { ok: () => true, ready: () => true },
  delays: { patience: 500 },
  actions: { count: assign({ n: ({ context }) => context.n + 1 }) },
}).createMachine({
  id: 'sample',
  context: { n: 0 },
  initial: 'idle',
  on: { stop: '.done', tick: { actions: 'count' } },
  states: {
    idle: {
      description: 'Waits | for go.',
      tags: ['quiet'],
      on: {
        go: [
          { guard: and(['ok', not('ready')]), target: 'busy' },
          { guard: ({ context }) => context.n > 2, target: 'busy' },
        ],
      },
      after: { 1000: 'busy' },
    },
    busy: {
      initial: 'loading',
      on: { '*': { target: 'idle' } },
      onDone: 'done',
      states: {
        loading: {
          invoke: { src: 'load', onDone: 'loaded', onError: { target: 'loaded', actions: 'count' } },
          after: { patience: { guard: 'ok', target: 'loaded' } },
        },
        loaded: { always: { guard: 'ok', target: 'finished' } },
        finished: { type: 'final' },
      },
    },
    both: {
      type: 'parallel',
      states: {
        left: { initial: 'a', states: { a: {} } },
        right: { initial: 'a', states: { a: {} } },
      },
    },
    done: { type: 'final' },
  },
})

const sampleKind: MachineKind = {
  kind: 'sample',
  machine: sample,
  description: 'A sample machine. It has everything.',
  project: () => ({}),
  clientEvents: Type.Union([
    Type.Object({ type: Type.Literal('go'), times: Type.Optional(Type.Integer({ minimum: 1, maximum: 9 })) }),
    Type.Object({ type: Type.Literal('stop'), why: Type.String({ maxLength: 40 }) }),
  ]),
}

describe('statechart generator', () => {
  it('draws initial and final states, composites, parallel regions and every targeted transition', () => {
    const lines = mermaidOf(sample).split('\n')
    expect(lines[0]).toBe('stateDiagram-v2')
    expect(lines).toContain('  [*] --> idle')
    expect(lines).toContain('  done --> [*]')
    expect(lines).toContain('  state busy {')
    expect(lines).toContain('    state "loading" as busy_loading')
    expect(lines).toContain('    [*] --> busy_loading')
    expect(lines).toContain('    busy_finished --> [*]')
    // edges inside a composite stay in its block, with events, delays, invocations and guards named
    expect(lines).toContain('    busy_loading --> busy_loaded : done(load)')
    expect(lines).toContain('    busy_loading --> busy_loaded : error(load)')
    expect(lines).toContain('    busy_loading --> busy_loaded : after(patience) [ok]')
    expect(lines).toContain('    busy_loaded --> busy_finished : always [ok]')
    expect(lines).toContain('  idle --> busy : go [and(ok, not(ready))]')
    expect(lines).toContain('  idle --> busy : go [inline]')
    expect(lines).toContain('  idle --> busy : after(1000ms)')
    expect(lines).toContain('  busy --> idle : *')
    expect(lines).toContain('  busy --> done : done(busy)')
    expect(lines).toContain('  state both {')
    expect(lines).toContain('    --')
    // a root transition is drawn from every top-level state that would take it
    expect(lines.filter((l) => l.endsWith(': stop'))).toEqual([
      '  idle --> done : stop',
      '  busy --> done : stop',
      '  both --> done : stop',
    ])
    // actions-only transitions are no edges
    expect(lines.some((l) => l.includes('tick'))).toBe(false)
  })

  it('projects the definition to JSON with states, transitions, guards, tags and descriptions', () => {
    const doc = statechartJson(sampleKind)
    expect(doc.clientEvents).toEqual(['go', 'stop'])
    expect(doc.machine.initial).toBe('idle')
    expect(doc.machine.transitions).toContainEqual({ event: 'tick', label: 'tick', targets: [], actions: ['count'] })
    const idle = doc.machine.states.idle
    expect(idle).toMatchObject({ id: 'sample.idle', type: 'atomic', description: 'Waits | for go.', tags: ['quiet'] })
    expect(idle?.transitions.map((t) => [t.label, t.guard ?? null, t.targets])).toEqual([
      ['go', 'and(ok, not(ready))', ['sample.busy']],
      ['go', 'inline', ['sample.busy']],
      ['after(1000ms)', null, ['sample.busy']],
    ])
    // the timer's own raise and cancel are bookkeeping, not actions of the state
    expect(idle?.entry).toEqual([])
    expect(idle?.exit).toEqual([])
    expect(doc.machine.states.busy?.states.loading?.invoke).toEqual([{ id: '0.sample.busy.loading', src: 'load' }])
    expect(doc.machine.states.done?.type).toBe('final')
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc)
  })

  it('writes a page with the description, client events, diagram and tables', () => {
    const md = statechartMarkdown(sampleKind)
    expect(md).toContain('# sample\n\nA sample machine. It has everything.\n')
    expect(md).toContain('- `go` with `times?`: integer (1..9)')
    expect(md).toContain('- `stop` with `why`: string (..40 chars)')
    expect(md).toContain(`\`\`\`mermaid\n${mermaidOf(sample)}\n\`\`\``)
    expect(md).toContain('| `idle` | initial | `quiet` |  | Waits \\| for go. |')
    expect(md).toContain('| `busy.loading` | initial |  | `load` |  |')
    expect(md).toContain('| `done` | final |  |  |  |')
    expect(md).toContain('| (any state) | `tick` |  | (stays) | `count` |')
    expect(md).toContain('| `busy.loading` | `error(load)` |  | `busy.loaded` | `count` |')
    expect(md.endsWith('|\n')).toBe(true)
  })

  it('says when a kind accepts no client events', () => {
    const md = statechartMarkdown({ ...sampleKind, clientEvents: Type.Union([]) })
    expect(md).toContain('This actor accepts no events from clients.')
  })

  it('gives the same files every time, each ending in a newline, with an index linking every kind', () => {
    const files = statechartFiles(machineKinds)
    expect(statechartFiles(machineKinds)).toEqual(files)
    expect([...files.keys()]).toEqual([...files.keys()].sort())
    for (const [name, content] of files) expect(content.endsWith('\n'), name).toBe(true)
    const index = files.get('README.md') ?? ''
    for (const { kind } of machineKinds) {
      expect(files.has(`${kind}.json`) && files.has(`${kind}.md`)).toBe(true)
      expect(index).toContain(`[${kind}](${kind}.md)`)
    }
  })

  it('draws every state and every targeted transition of every kind in the catalog', () => {
    for (const { kind, machine } of machineKinds) {
      const diagram = mermaidOf(machine)
      const doc = statechartJson(machineKinds.find((k) => k.kind === kind) as MachineKind)
      const walk = (state: typeof doc.machine): void => {
        for (const child of Object.values(state.states)) {
          expect(diagram, `${kind}: state ${child.id}`).toMatch(new RegExp(`(^|\\s)${child.path.replaceAll('.', '_')}(\\s|$)`, 'm'))
          for (const t of child.transitions) {
            if (t.targets.length > 0) expect(diagram, `${kind}: ${child.id} on ${t.event}`).toContain(`: ${t.label}`)
          }
          walk(child)
        }
      }
      walk(doc.machine)
    }
  })
})

describe('docs/statecharts', () => {
  let dir: string | undefined
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
    dir = undefined
  })

  it('matches what the generator produces from the machines now', async () => {
    const stale = await findStale(STATECHARTS_DIR, statechartFiles(machineKinds))
    expect(stale, 'docs/statecharts is stale: run `npm run statecharts` and commit the result').toEqual({ changed: [], extra: [] })
  })

  it('reports changed, missing and left-over files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-statecharts-'))
    const files = new Map([
      ['a.md', 'A\n'],
      ['b.json', '{}\n'],
      ['c.md', 'C\n'],
    ])
    await writeFile(join(dir, 'a.md'), 'A\n')
    await writeFile(join(dir, 'b.json'), '{"old":true}\n')
    await writeFile(join(dir, 'gone.md'), 'removed kind\n')
    expect(await findStale(dir, files)).toEqual({ changed: ['b.json', 'c.md'], extra: ['gone.md'] })
  })
})
