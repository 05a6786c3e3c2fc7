import { type AnyActorRef, createMachine, type EventObject, fromCallback, sendParent } from 'xstate'
import type { NodeInput } from '../../src/machines/node/node.types.ts'
import { supervisorMachine } from '../../src/machines/supervisor/supervisor.machine.ts'
import type { SupervisorEvent } from '../../src/machines/supervisor/supervisor.types.ts'
import { check, type Invariants, WorldClock } from './model.ts'

/** One running node process (an instance of the node actor), as the world sees it. */
interface NodeProcess {
  alias: string
  input: NodeInput
  live: boolean
  /** Spawned after the shutdown was asked for. */
  afterShutdown: boolean
  told: string[]
  ref: AnyActorRef
}

type Report = Extract<SupervisorEvent, { type: 'supervisor.nodeStopped' }>

/**
 * What the supervisor's effects touch, faked: the node processes it starts and stops, and the
 * application that asks. `expected` is the world's own account, written by hand from the catalog
 * ("restarts a crashed node up to its restart limit"), of which aliases should have a node running.
 */
export class SupervisorWorld {
  readonly clock = new WorldClock()
  readonly processes: NodeProcess[] = []
  /** Aliases that should have a running node, with the restarts used since the application started it. */
  readonly expected = new Map<string, number>()
  readonly stopAsked = new Set<string>()
  shutdownAsked = false
  readonly violations: string[] = []

  constructor(readonly restartLimit: number) {}

  /** The node actor's stand-in: records what it is told, reports to its parent when the world says. */
  readonly fakeNode = (() => {
    const world = this
    return createMachine({
      id: 'fake-node',
      types: {} as { input: NodeInput; context: { input: NodeInput } },
      context: ({ input }) => ({ input }),
      invoke: {
        src: fromCallback<EventObject, { input: NodeInput; ref: AnyActorRef }>(({ input }) => {
          const live = world.processes.filter((p) => p.live && p.alias === input.input.alias)
          if (live.length > 0) world.violations.push(`a second node process for ${input.input.alias}`)
          const process: NodeProcess = {
            alias: input.input.alias,
            input: input.input,
            live: true,
            afterShutdown: world.shutdownAsked,
            told: [],
            ref: input.ref,
          }
          world.processes.push(process)
          return () => {
            process.live = false
          }
        }),
        input: ({ context, self }) => ({ input: context.input, ref: self }),
      },
      initial: 'running',
      states: {
        running: {
          on: {
            'node.stop': {
              actions: ({ self }) => world.processes.find((p) => p.ref === self)?.told.push('node.stop'),
            },
            'world.report': {
              target: 'ended',
              actions: sendParent(({ event }) => (event as unknown as { report: Report }).report),
            },
          },
        },
        ended: { type: 'final' },
      },
    })
  })()

  live = (alias?: string) => this.processes.filter((p) => p.live && (alias === undefined || p.alias === alias))

  // -- what the application and the nodes do ---------------------------------------------------

  startNode(input: NodeInput): void {
    if (!this.shutdownAsked && !this.expected.has(input.alias)) this.expected.set(input.alias, 0)
  }

  stopNode(alias: string): void {
    this.stopAsked.add(alias)
  }

  shutdown(): void {
    this.shutdownAsked = true
  }

  /** The live node of `alias` ends: cleanly, failing to start, or crashing after it ran. */
  report(report: Report): void {
    const process = this.live(report.alias)[0]
    if (!process) throw new Error(`no live node ${report.alias} to report`)
    const restarts = this.expected.get(report.alias) ?? 0
    const restart = report.error !== undefined && report.started === true && !this.shutdownAsked && restarts < this.restartLimit
    if (restart) this.expected.set(report.alias, restarts + 1)
    else this.expected.delete(report.alias)
    // the node reports from its final state: the process has ended, whatever its actor does next
    process.live = false
    process.ref.send({ type: 'world.report', report })
  }
}

export function supervisorAlways(w: SupervisorWorld): void {
  check(w.violations.length === 0, w.violations.join('; '))
  for (const alias of new Set(w.processes.map((p) => p.alias))) {
    check(w.live(alias).length <= 1, `${w.live(alias).length} node processes for ${alias}`)
  }
  for (const p of w.processes) {
    const told = p.told.includes('node.stop')
    check(!told || w.stopAsked.has(p.alias) || w.shutdownAsked, `${p.alias} was told to stop and nobody asked`)
  }
}

/** Per state, from src/machines/catalog.ts and docs/statecharts/supervisor.md. */
export const supervisorInvariants: Invariants<SupervisorWorld> = {
  running: (w) => {
    check(!w.shutdownAsked, 'running after a shutdown')
    const live = w
      .live()
      .map((p) => p.alias)
      .sort()
    const expected = [...w.expected.keys()].sort()
    check(
      live.join(',') === expected.join(','),
      `nodes running: [${live}], expected [${expected}] (restart limit ${w.restartLimit}, restarts ${JSON.stringify(Object.fromEntries(w.expected))})`,
    )
    for (const alias of w.stopAsked) {
      for (const p of w.live(alias)) check(p.told.includes('node.stop'), `${alias} was asked to stop and its node was not told`)
    }
  },
  shuttingDown: (w) => {
    check(w.shutdownAsked, 'shutting down, and nobody asked')
    check(w.live().length > 0, 'still shutting down with no node running')
    for (const p of w.live()) check(p.told.includes('node.stop'), `${p.alias} runs on and was never told to stop`)
    check(!w.processes.some((p) => p.afterShutdown), 'a node started after the shutdown began')
  },
  stopped: (w) => {
    check(w.shutdownAsked, 'stopped, and nobody asked')
    check(w.live().length === 0, `nodes still running: ${w.live().map((p) => p.alias)}`)
    check(!w.processes.some((p) => p.afterShutdown), 'a node started after the shutdown began')
  },
}

export function supervisorWorld(restartLimit: number) {
  const world = new SupervisorWorld(restartLimit)
  const machine = supervisorMachine.provide({ actors: { node: world.fakeNode as never } })
  return { world, machine, clock: world.clock }
}
