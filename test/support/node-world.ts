import { type AnyActor, type AnyActorRef, createMachine, type EventObject, fromCallback, fromPromise } from 'xstate'
import { dhtMachine } from '../../src/machines/dht/dht.machine.ts'
import { nodeMachine } from '../../src/machines/node/node.machine.ts'
import type { NodeEvent, NodeInput, NodeStarted } from '../../src/machines/node/node.types.ts'
import { DhtWorld } from './dht-world.ts'
import { check, type Invariants, WorldClock } from './model.ts'

interface Run<T> {
  settled: boolean
  aborted: boolean
  resolve(value: T): void
  reject(error: Error): void
}

function run<T>(list: Run<T>[], signal: AbortSignal, resolve: (v: T) => void, reject: (e: Error) => void): Run<T> {
  const r: Run<T> = {
    settled: false,
    aborted: false,
    resolve: (v) => {
      r.settled = true
      resolve(v)
    },
    reject: (e) => {
      r.settled = true
      reject(e)
    },
  }
  signal.addEventListener('abort', () => {
    r.aborted = true
  })
  list.push(r)
  return r
}

/** A child actor of the node (topic, peers shard, channel) as the world sees it. */
interface Child {
  kind: string
  id: string
  live: boolean
  received: EventObject[]
  ref?: AnyActorRef
}

/**
 * What a local node's effects touch, faked: the libp2p/Helia handle (built, listening, torn down),
 * its event listeners, the node's DHT (a DhtWorld, under the real DHT machine), the children it
 * spawns for topics, peers and channels, the application that asks for them, and what the
 * supervisor was told. Nothing here reads the machine.
 */
export class NodeWorld {
  readonly clock = new WorldClock()
  readonly dht: DhtWorld
  handle: NodeStarted | undefined
  /** The node was built at least once (it reached a handle). */
  everBuilt = false
  readonly creates: Run<NodeStarted>[] = []
  readonly teardowns: Run<void>[] = []
  readonly nodeListeners = new Set<(e: NodeEvent) => void>()
  readonly peerListeners = new Set<(e: NodeEvent) => void>()
  readonly children = new Map<string, Child>()
  /** Connections holding each topic, as the application counts them. */
  readonly topicHolders = new Map<string, number>()
  readonly channelsWanted = new Set<string>()
  /** Pairings the application started and that have not finished. */
  readonly pairingsWanted = new Set<string>()
  routesSent = 0
  stopAsked = false
  crashed = false
  createFailed = false
  teardownFailed = false
  readonly reports: { alias: string; error?: string; started?: boolean }[] = []
  readonly violations: string[] = []
  #seq = 0

  constructor(readonly settings: NodeInput) {
    this.dht = new DhtWorld({
      alias: settings.alias,
      bootstrapTimeoutMs: settings.dhtBootstrapTimeoutMs,
      queueLimit: settings.dhtQueueLimit,
      concurrency: settings.dhtConcurrency,
    })
    // the node's DHT is told to stop by the node; the DHT world counts that as its stop request
    this.dht.stopRequested = true
  }

  /** A stand-in child machine: records what it is sent, lives until stopped or told to finish. */
  fakeChild(kind: string) {
    return createMachine({
      id: `fake-${kind}`,
      initial: 'live',
      invoke: {
        src: fromCallback<EventObject, { id: string; ref: AnyActorRef }>(({ input }) => {
          const child: Child = { kind, id: input.id, live: true, received: [], ref: input.ref }
          if (this.children.get(input.id)?.live) this.violations.push(`two live children named ${input.id}`)
          this.children.set(input.id, child)
          return () => {
            child.live = false
          }
        }),
        input: ({ self }) => ({ id: self.id, ref: self }),
      },
      on: {
        '*': { actions: ({ event, self }) => this.children.get(self.id)?.received.push(event) },
      },
      states: {
        live: { on: { 'world.finish': 'done' } },
        done: { type: 'final' },
      },
    })
  }

  readonly effects = {
    createNode: fromPromise<NodeStarted, { alias: string }>(
      ({ signal }) =>
        new Promise<NodeStarted>((resolve, reject) => {
          const r = run(this.creates, signal, resolve, reject)
          // a build abandoned half-way is undone by the effect itself
          signal.addEventListener('abort', () => {
            if (!r.settled) this.handle = undefined
          })
        }),
    ),
    stopNode: fromPromise<void, { alias: string }>(
      ({ signal }) =>
        new Promise<void>((resolve, reject) => {
          run(this.teardowns, signal, resolve, reject)
        }),
    ),
    watchNode: fromCallback<NodeEvent, { alias: string }>(({ sendBack }) => {
      if (!this.handle) this.violations.push('watching a node that has no handle')
      const l = (e: NodeEvent) => sendBack(e)
      this.nodeListeners.add(l)
      return () => this.nodeListeners.delete(l)
    }),
    watchPeers: fromCallback<NodeEvent, { alias: string; backoff: NodeInput['backoff'] }>(({ sendBack }) => {
      if (!this.handle) this.violations.push('watching the peers of a node that has no handle')
      const l = (e: NodeEvent) => sendBack(e)
      this.peerListeners.add(l)
      return () => this.peerListeners.delete(l)
    }),
  }

  // -- what the outside world does ------------------------------------------------------------

  pending<T>(runs: Run<T>[], what: string): Run<T> {
    const r = runs.find((x) => !x.settled && !x.aborted)
    if (!r) throw new Error(`no ${what} is in flight`)
    return r
  }

  finishCreate(): void {
    const r = this.pending(this.creates, 'node build')
    this.handle = { peerId: `12D3KooWWorld${++this.#seq}`, addrs: ['/ip4/127.0.0.1/tcp/4001'] }
    this.everBuilt = true
    r.resolve(this.handle)
  }

  failCreate(error: Error): void {
    this.createFailed = true
    this.pending(this.creates, 'node build').reject(error)
  }

  finishTeardown(): void {
    const r = this.pending(this.teardowns, 'node teardown')
    this.handle = undefined
    r.resolve()
  }

  failTeardown(error: Error): void {
    this.teardownFailed = true
    this.pending(this.teardowns, 'node teardown').reject(error)
  }

  notify(listeners: Set<(e: NodeEvent) => void>, event: NodeEvent): void {
    if (listeners.size === 0) throw new Error(`nobody listens for ${event.type}`)
    for (const l of [...listeners]) l(event)
  }

  /** libp2p itself: new addresses, a connection more, or an unexpected stop. */
  libp2p(event: NodeEvent): void {
    if (!this.handle) throw new Error('no libp2p node to produce an event')
    if (event.type === 'node.addrs') this.handle.addrs = event.addrs
    if (event.type === 'node.crashed') this.crashed = true
    this.notify(this.nodeListeners, event)
  }

  peerEvent(event: NodeEvent): void {
    if (event.type === 'peers.route') this.routesSent++
    this.notify(this.peerListeners, event)
  }

  /** A topic actor leaves (its last connection went, or its join failed): its holders are gone with it. */
  finishTopic(topic: string): void {
    const child = this.children.get(`topic:${topic}`)
    if (!child?.live || !child.ref) throw new Error(`no live topic actor for ${topic}`)
    this.topicHolders.set(topic, 0)
    child.ref.send({ type: 'world.finish' })
  }

  /** A child (a pairing) reaches its final state on its own. */
  finishChild(id: string): void {
    const child = this.children.get(id)
    if (!child?.live || !child.ref) throw new Error(`no live child ${id}`)
    child.ref.send({ type: 'world.finish' })
  }

  live = (kind: string) => [...this.children.values()].filter((c) => c.live && c.kind === kind)
  inFlight = <T>(runs: Run<T>[]) => runs.filter((r) => !r.settled && !r.aborted).length
}

export function nodeAlways(w: NodeWorld): void {
  check(w.violations.length === 0, w.violations.join('; '))
  check(w.dht.violations.length === 0, `DHT: ${w.dht.violations.join('; ')}`)
  check(w.reports.length <= 1, `the supervisor was told ${w.reports.length} times`)
  check(w.inFlight(w.creates) + w.inFlight(w.teardowns) <= 1, 'building and tearing down at once')
  check(w.nodeListeners.size <= 1 && w.peerListeners.size <= 1, 'libp2p events watched twice')
  for (const kind of ['topic', 'peers', 'channel', 'pairing', ...KEEPERS]) {
    const ids = w.live(kind).map((c) => c.id)
    check(new Set(ids).size === ids.length, `duplicate ${kind} children`)
  }
}

const noDht = (w: NodeWorld, where: string) => {
  check(w.dht.watchers.size === 0, `${where}, yet its DHT still watches the routing table`)
  const open = [...w.dht.ops.values()].filter((r) => r.fate === 'waiting' || r.fate === 'running')
  check(open.length === 0, `${where} with DHT operations unanswered`)
}

/** Per state, from src/machines/catalog.ts and docs/statecharts/node.md. */
export const nodeInvariants: Invariants<NodeWorld> = {
  starting: (w) => {
    check(w.inFlight(w.creates) === 1, `${w.inFlight(w.creates)} node builds in flight, expected 1`)
    check(w.handle === undefined, 'starting with a node already built')
    check(w.dht.watchers.size === 0 && w.dht.bootstraps.length === 0, 'a DHT runs before the node does')
    check(w.nodeListeners.size === 0 && w.peerListeners.size === 0, 'watching libp2p before it exists')
    check(w.reports.length === 0, 'the supervisor was told the node stopped while it starts')
  },
  running: (w) => {
    check(w.handle !== undefined, 'running without a libp2p handle')
    check(w.nodeListeners.size === 1, 'running without watching libp2p')
    check(w.peerListeners.size === 1, 'running without watching libp2p peers')
    check(w.dht.watchers.size === 1, 'running without a DHT actor watching the routing table')
    check(w.dht.bootstraps.length >= 1, 'running, and its DHT was never asked to bootstrap')
    for (const k of keepers(w)) check(w.live(k).length === 1, `running with ${w.live(k).length} ${k} actors, expected 1`)
    check(w.inFlight(w.teardowns) === 0, 'running while a teardown is in flight')
    check(w.reports.length === 0, 'the supervisor was told the node stopped while it runs')
    for (const [topic, holders] of w.topicHolders) {
      const child = w.children.get(`topic:${topic}`)
      if (holders > 0) check(child?.live === true, `${holders} connections hold ${topic} and no topic actor runs`)
      if (child?.live) {
        const said = (type: string) => child.received.filter((e) => e.type === type).length
        const count = 1 + said('topic.retain') - said('topic.release')
        check(count === holders, `the ${topic} actor counts ${count} holders, the application ${holders}`)
      }
    }
    for (const c of w.live('topic')) check(w.topicHolders.has(c.id.slice('topic:'.length)), `${c.id} runs for a topic nobody asked for`)
    for (const id of w.channelsWanted) check(w.children.get(id)?.live === true, `no channel actor for ${id}`)
    for (const id of w.pairingsWanted) check(w.children.get(id)?.live === true, `no pairing actor for ${id}`)
    for (const c of w.live('pairing')) check(w.pairingsWanted.has(c.id), `${c.id} still runs after it finished`)
    const delivered = [...w.children.values()]
      .filter((c) => c.kind === 'peers')
      .flatMap((c) => c.received)
      .filter((e) => e.type === 'peers.route').length
    check(delivered === w.routesSent, `${w.routesSent} peer events routed, ${delivered} reached a shard`)
  },
  stopping: (w) => {
    check(w.stopAsked || w.crashed, 'stopping, but nobody asked and it did not crash')
    check(w.inFlight(w.teardowns) === 1, `${w.inFlight(w.teardowns)} teardowns in flight, expected 1`)
    check(w.inFlight(w.creates) === 0, 'stopping while the build goes on')
    check(w.nodeListeners.size === 0 && w.peerListeners.size === 0, 'stopping and still watching libp2p')
    noDht(w, 'stopping')
    keepersTold(w, 'stopping')
    check(w.reports.length === 0, 'the supervisor was told before the teardown finished')
  },
  stopped: (w) => {
    check(w.handle === undefined, 'stopped with the libp2p handle still open')
    check(w.stopAsked && !w.crashed && !w.createFailed && !w.teardownFailed, 'stopped cleanly after a failure')
    check(w.reports.length === 1 && w.reports[0]?.error === undefined, `the supervisor was told ${JSON.stringify(w.reports)}`)
    check(
      [...w.children.values()].every((c) => !c.live),
      'children still live after stop',
    )
    noDht(w, 'stopped')
    check(w.inFlight(w.creates) + w.inFlight(w.teardowns) === 0, 'a build or teardown still in flight')
  },
  failed: (w) => {
    check(w.crashed || w.createFailed || w.teardownFailed, 'failed without any failure in the world')
    const report = w.reports[0]
    check(w.reports.length === 1 && typeof report?.error === 'string', `the supervisor was told ${JSON.stringify(w.reports)}`)
    check(
      (report?.started === true) === w.everBuilt,
      `the supervisor was told started=${report?.started} for a node that was ${w.everBuilt ? '' : 'never '}built`,
    )
    check(w.handle === undefined || w.teardownFailed, 'failed with the libp2p handle still open')
    keepersTold(w, 'failed')
    check(
      [...w.children.values()].every((c) => !c.live),
      'children still live after failing',
    )
    noDht(w, 'failed')
    check(w.inFlight(w.creates) + w.inFlight(w.teardowns) === 0, 'a build or teardown still in flight')
  },
}

/** Children a running node keeps one each of, for as long as it runs, and the event that stops each. */
const KEEPERS = ['presence', 'pruner', 'relay']
const STOP: Record<string, string> = { presence: 'presence.stop', pruner: 'pruner.stop', relay: 'relay.stop' }
/** The keepers this node should run: presence always, the pruner only with watermarks, the relay only on a persistent node with relay limits. */
const keepers = (w: NodeWorld) =>
  KEEPERS.filter((k) => (nodeMachine.implementations.actors as Record<string, unknown>)[k] !== undefined)
    .filter((k) => k !== 'pruner' || w.settings.pruner !== undefined)
    .filter((k) => k !== 'relay' || (w.settings.relay !== undefined && w.settings.persistent))

/** Every keeper the node ran was told to stop (the node stops them on leaving running). */
const keepersTold = (w: NodeWorld, where: string) => {
  for (const c of [...w.children.values()].filter((c) => KEEPERS.includes(c.kind))) {
    check(c.received.some((e) => e.type === STOP[c.kind]) || !c.live, `${where}, and ${c.kind} runs on untold`)
  }
}

export function nodeWorld(input: NodeInput) {
  const world = new NodeWorld(input)
  const dht = dhtMachine.provide({ actors: world.dht.effects })
  // every child kind the node spawns besides its DHT is a stand-in that reports to the world
  const children = Object.fromEntries(KEEPERS.concat(['peers', 'topic', 'channel', 'pairing']).map((kind) => [kind, world.fakeChild(kind)]))
  const machine = nodeMachine.provide({
    actors: { ...world.effects, dht, ...children } as never,
    actions: {
      reportStopped: (_: unknown, params: { alias: string; error?: string; started?: boolean }) => {
        world.reports.push(params)
      },
    },
  })
  return { world, machine, clock: world.clock, attach: (_: AnyActor) => {} }
}
