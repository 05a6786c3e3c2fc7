import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import type { Config } from '../../src/config.ts'
import { processCpuMs } from '../support/proc-cpu.ts'
import { watchActors } from '../support/watch-actors.ts'
import type { Lab } from './lab.ts'
import { type LabDaemon, startLabDaemon, tcpAddrOf } from './lab-daemon.ts'

/**
 * The lab's scenarios as functions that drive daemons over their WebSocket API and return what they
 * measured; test/lab/lab.test.ts asserts on them with CI timings, test/lab/run.ts prints and records
 * them at full size. Times are performance.now() in this process, measured where a push arrives.
 */

export const now = () => performance.now()
const ms = (t: number) => Math.round(t)

/** A condition over pushes that may already hold: resolves when `check()` is true, re-checked on every `poke`. */
export class Waiters {
  readonly #waiters = new Set<() => void>()
  poke(): void {
    for (const w of [...this.#waiters]) w()
  }
  until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const test = () => {
        if (!check()) return
        this.#waiters.delete(test)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(test)
        reject(new Error(`not within ${timeoutMs} ms: ${what()}`))
      }, timeoutMs)
      this.#waiters.add(test)
      test()
    })
  }
}

interface PeerStatePush {
  peerId: string
  status: string
  added: boolean
}

/** One daemon in a scenario: its process, a client bound to peer-a, and what its pushes said. */
export class Member {
  readonly peers = new Map<string, { status: string; history: Array<{ status: string; at: number }> }>()
  readonly topic = new Map<string, Array<{ from: string; data: unknown; at: number }>>()
  readonly acks = new Map<number, { delivered: boolean; error?: string; at: number }>()
  readonly received: Array<{ peer: string; data: unknown; at: number }> = []
  /** Peers GossipSub knows to be on each topic (peerChange pushes). */
  readonly topicPeers = new Map<string, Set<string>>()
  readonly waiters = new Waiters()
  /** When this view of the daemon began (a restarted daemon gets a new Member). */
  readonly createdAt = now()

  /**
   * A new client of `daemon`, bound to peer-a by its first call (peers.list, which also fills the
   * view): the daemon pushes peer.state only to bound connections, so a view never bound saw no
   * change at all (scenario 4 run alone counted every churn reconnect at the final peers.list).
   */
  static async open(daemon: LabDaemon): Promise<Member> {
    const m = new Member(daemon, await daemon.client())
    await m.refreshPeers()
    return m
  }

  private constructor(
    readonly daemon: LabDaemon,
    readonly client: SwitchboardClient,
  ) {
    client.on<PeerStatePush>('peer.state', (p) => this.#peer(p.peerId, p.status))
    client.on<{ topic: string; peerid: string; data: unknown }>('topicData', (p) => {
      const list = this.topic.get(p.topic) ?? []
      list.push({ from: p.peerid, data: p.data, at: now() })
      this.topic.set(p.topic, list)
      this.waiters.poke()
    })
    client.on<{ topic: string; peerid: string; joined: boolean }>('peerChange', (p) => {
      const set = this.topicPeers.get(p.topic) ?? new Set()
      if (p.joined) set.add(p.peerid)
      else set.delete(p.peerid)
      this.topicPeers.set(p.topic, set)
      this.waiters.poke()
    })
    client.on<{ ack: number; delivered: boolean; error?: string }>('ack', (p) => {
      this.acks.set(p.ack, { delivered: p.delivered, error: p.error, at: now() })
      this.waiters.poke()
    })
    client.on<{ peer: string; data: unknown }>('peerData', (p) => {
      this.received.push({ peer: p.peer, data: p.data, at: now() })
      this.waiters.poke()
    })
  }
  get peerId(): string {
    return this.daemon.peerId
  }
  #peer(peerId: string, status: string): void {
    const entry = this.peers.get(peerId) ?? { status, history: [] }
    if (entry.history.at(-1)?.status !== status) entry.history.push({ status, at: now() })
    entry.status = status
    this.peers.set(peerId, entry)
    this.waiters.poke()
  }
  /** Fill the peer view from peers.list (pushes keep it current from then on). */
  async refreshPeers(): Promise<void> {
    const { peers } = await this.client.call<{ peers: PeerStatePush[] }>('peers.list')
    for (const p of peers) if (this.peers.get(p.peerId)?.status !== p.status) this.#peer(p.peerId, p.status)
  }
  status(peerId: string): string | undefined {
    return this.peers.get(peerId)?.status
  }
  /** When `peerId` first reached `status` at or after `since`. */
  reached(peerId: string, status: string, since: number): number | undefined {
    return this.peers.get(peerId)?.history.find((h) => h.status === status && h.at >= since)?.at
  }
  untilStatus(peerIds: string[], statuses: string[], timeoutMs: number): Promise<void> {
    return this.waiters.until(
      () => peerIds.every((p) => statuses.includes(this.status(p) ?? '')),
      timeoutMs,
      () => `${this.daemon.host.name}: ${peerIds.map((p) => `${p.slice(-6)}=${this.status(p)}`).join(' ')} (want ${statuses})`,
    )
  }
}

/** `member` adds every other member (addpeers), as an app that wants them all connected does. */
export const addOthers = (member: Member, members: Member[]) =>
  member.client.call('addpeers', { peerIds: members.filter((o) => o !== member).map((o) => o.peerId) })

export const addEachOther = (members: Member[]) => Promise.all(members.map((m) => addOthers(m, members)))

/**
 * Short timings for the CI version: messages given up 6 s after their send. Peer retries keep their
 * default backoff (capped at 30 s), so the heal is found by the heal probe, as users get it.
 */
export const CI_CONFIG: Partial<Config> = {
  messageRetryWindowMs: 6_000,
  dhtBootstrapTimeoutMs: 20_000,
}

export interface Fleet {
  members: Member[]
  /** ms from spawn to banner, per daemon. */
  startMs: number[]
  stop(): Promise<void>
}

/** Host 0 is the seed; every other host bootstraps from its TCP address; all start at once after it. */
export async function startFleet(lab: Lab, count: number, config: Partial<Config> = {}): Promise<Fleet> {
  const daemons: LabDaemon[] = []
  const stop = async () => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => {})))
  }
  try {
    const hosts = lab.hosts.slice(0, count)
    const seed = await startLabDaemon(lab, hosts[0]!, { config })
    daemons.push(seed)
    const bootstrap = [tcpAddrOf(seed)]
    const rest = await Promise.allSettled(hosts.slice(1).map((h) => startLabDaemon(lab, h, { config, bootstrap })))
    for (const r of rest) if (r.status === 'fulfilled') daemons.push(r.value)
    const failed = rest.find((r) => r.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
    const members = await Promise.all(daemons.map((d) => Member.open(d)))
    return { members, startMs: daemons.map((d) => ms(d.startedAt - d.spawnedAt)), stop }
  } catch (err) {
    await stop()
    throw err
  }
}

const isReady = (s: ActorSnapshot) => s.value === 'ready' || (typeof s.value === 'object' && s.value !== null && 'ready' in s.value)

/** Scenario 1a: ms from each daemon's spawn until its dht:peer-a is `ready`. */
export async function dhtReadyTimes(members: Member[], timeoutMs: number): Promise<number[]> {
  return Promise.all(
    members.map(async (m) => {
      const watch = await watchActors(m.client, 'dht:')
      try {
        await watch.until('dht:peer-a', isReady, timeoutMs).catch((err: Error) => {
          throw new Error(`${m.daemon.host.name}: ${err.message}; its stderr ends: ${m.daemon.stderr().slice(-500)}`)
        })
        // the snapshot may have been ready before we looked: then the time is an upper bound
        return ms(now() - m.daemon.spawnedAt)
      } finally {
        watch.stop()
      }
    }),
  )
}

/** Every member subscribes to `topic` (resolves when each has joined). */
export async function subscribeAll(members: Member[], topic: string): Promise<void> {
  await Promise.all(members.map((m) => m.client.call('subscribe', { topic })))
}

/**
 * Until every member knows every other to be on `topic`: GossipSub publishes to every topic peer it
 * knows (floodPublish), while forwarding goes through the mesh only, which forms at heartbeats; a
 * message published before that can miss a peer for good. Resolves with the ms it took, or -1 when
 * some member still misses some after `timeoutMs` (then the round relies on the mesh).
 */
export async function untilTopicPeers(members: Member[], topic: string, timeoutMs: number): Promise<number> {
  const t0 = now()
  const ok = await Promise.all(
    members.map((m) =>
      m.waiters
        .until(
          () => members.every((o) => o === m || (m.topicPeers.get(topic)?.has(o.peerId) ?? false)),
          timeoutMs,
          () => 'topic peers',
        )
        .then(
          () => true,
          () => false,
        ),
    ),
  )
  return ok.every(Boolean) ? ms(now() - t0) : -1
}

export interface TopicRound {
  publishedAt: number
  /** ms from the round's publish to the last delivery. */
  allDeliveredMs: number
  delivered: number
  expected: number
  missing: string[]
}

const monotonicUs = () => process.hrtime.bigint() / 1000n

const tagged = (x: { data: unknown }, tag: string) => (x.data as { tag?: string } | null)?.tag === tag
const fromOf = (x: { data: unknown }) => (x.data as { from?: number }).from

/** Who misses which message of round `tag` (`<from>-><to>` by member index). */
function roundMissing(members: Member[], topic: string, tag: string): string[] {
  return members.flatMap((m, i) => {
    const got = new Set((m.topic.get(topic) ?? []).filter((x) => tagged(x, tag)).map(fromOf))
    return members.map((_, j) => (i !== j && !got.has(j) ? `${j}->${i}` : '')).filter(Boolean)
  })
}

function roundStats(members: Member[], topic: string, tag: string, t0: number): TopicRound {
  const deliveries = members.flatMap((m) => (m.topic.get(topic) ?? []).filter((x) => tagged(x, tag)))
  return {
    allDeliveredMs: ms(Math.max(t0, ...deliveries.map((d) => d.at)) - t0),
    delivered: deliveries.length,
    expected: members.length * (members.length - 1),
    missing: roundMissing(members, topic, tag),
    publishedAt: t0,
  }
}

const publishRound = (members: Member[], topic: string, tag: string) =>
  Promise.all(members.map((m, i) => m.client.call('publish', { topic, data: { tag, from: i } })))

/** Scenario 1b: each member publishes one message; every other must receive every one. */
export async function topicRound(members: Member[], topic: string, tag: string, timeoutMs: number): Promise<TopicRound> {
  const t0 = now()
  await publishRound(members, topic, tag)
  await Promise.all(
    members.map((m) =>
      m.waiters.until(
        () => roundMissing(members, topic, tag).length === 0,
        timeoutMs,
        () => tag,
      ),
    ),
  ).catch(() => {})
  return roundStats(members, topic, tag, t0)
}

/**
 * Scenario 1b where not every host is connected to every other: GossipSub publishes to every topic
 * peer it knows (floodPublish) but forwards through the mesh only, which forms at heartbeats, so a
 * message published before that can miss a peer for good. Rounds of one message per member, one per
 * heartbeat (1 s), until one round reaches every member or `timeoutMs` passes; each round's result.
 */
export async function topicRoundsUntilComplete(members: Member[], topic: string, timeoutMs: number): Promise<TopicRound[]> {
  const t0 = now()
  const started: Array<{ tag: string; at: number }> = []
  const complete = () => started.some((r) => roundMissing(members, topic, r.tag).length === 0)
  while (!complete() && now() - t0 < timeoutMs) {
    const tag = `round-${started.length}-${Math.random().toString(36).slice(2, 6)}`
    started.push({ tag, at: now() })
    await publishRound(members, topic, tag)
    await members[0]!.waiters.until(complete, 1_000, () => '').catch(() => {})
  }
  // a round that is complete everywhere settles within moments; the others are what they are
  return started.map((r) => roundStats(members, topic, r.tag, r.at))
}

export interface PartitionResult {
  /** Cross-cut (member, peer) pairs watched. */
  pairs: number
  /** ms from the cut until every cross-cut added peer was in backoff. */
  detectMs: number
  /** ms from the heal until each cross-cut pair was connected again. */
  reconnectMs: number[]
  /** Direct messages sent across the cut during the partition, and how each was settled. */
  direct: { sent: number; delivered: number; nacked: number; unsettled: number; receivedNotAcked: number; duplicates: number }
  /** Topic messages published during the partition: deliveries on the publisher's side and across the cut. */
  topic: { published: number; sameSideDelivered: number; sameSideExpected: number; crossDelivered: number; crossExpected: number }
  /** ms from the heal until a round of topic messages (one a second) reached every member; -1: none did. */
  afterHealTopicMs: number
  partitionMs: number
  /** Connections the members held, summed, once every cross-cut pair was connected again; one per peer at each end would be `onePerPeer`. */
  connections: { held: number; onePerPeer: number }
  /** CPU the members' processes used from the heal until every cross-cut pair was back, and that wall time. */
  healCpu: { cpuS: number; wallS: number }
  /** Added peers that did not connect before the cut (left out of the figures), with their last error. */
  notConnected: string[]
  /** The pair that took longest to reconnect after the heal. */
  slowest?: { member: Member; peerId: string; ms: number }
  /** ms between the partition's topic messages and the heal (GossipSub gossips a message id for 3 heartbeats). */
  publishToHealMs: number
}

const PROTOCOL = '/lab/1.0.0'

/**
 * Scenario 2: every member adds every other (addpeers) and starts a direct-message protocol; the sites
 * in `cut` are cut off; once every cross-cut peer is in backoff, each member sends direct messages to
 * each peer across the cut and publishes on `topic`; after `holdMs` more the cut heals.
 */
export async function partitionAndHeal(
  lab: Lab,
  members: Member[],
  opts: {
    cut: number[]
    holdMs: number
    awaitFirstBatch: boolean
    topic: string
    detectTimeoutMs: number
    healTimeoutMs: number
    settleTimeoutMs: number
    log?: (s: string) => void
  },
): Promise<PartitionResult> {
  const log = opts.log ?? (() => {})
  // each cut site is a side of its own; the sites left joined are one side together
  const side = (m: Member) => (opts.cut.includes(m.daemon.host.site) ? m.daemon.host.site : 0)
  let across = (m: Member) => members.filter((o) => side(o) !== side(m))
  const sameSide = (m: Member) => members.filter((o) => o !== m && side(o) === side(m))
  await Promise.all(members.map((m) => m.client.call('start', { protocol: PROTOCOL })))
  await addEachOther(members)
  await Promise.all(members.map((m) => m.refreshPeers()))
  // every added peer connected before the cut; pairs that never connected are left out of the figures
  // and reported (with the dial's last error)
  const notConnected: string[] = []
  await Promise.all(
    members.map((m) =>
      m
        .untilStatus(
          members.filter((o) => o !== m).map((o) => o.peerId),
          ['connected', 'syncing'],
          opts.healTimeoutMs,
        )
        .catch(async () => {
          const { peers } = await m.client.call<{
            peers: Array<{ peerId: string; status: string; lastError: string | null; failures: number }>
          }>('peers.list')
          for (const p of peers) {
            if (['connected', 'syncing'].includes(p.status) || !members.some((o) => o.peerId === p.peerId)) continue
            notConnected.push(
              `${m.daemon.host.name.split('-').at(-1)}->${p.peerId.slice(-6)} ${p.status} (${p.failures} failures: ${p.lastError})`,
            )
          }
        }),
    ),
  )
  const connectedBefore = (m: Member, o: Member) => ['connected', 'syncing'].includes(m.status(o.peerId) ?? '')
  log(
    `${notConnected.length === 0 ? 'every added peer connected' : `${notConnected.length} added peers not connected: ${notConnected.slice(0, 5).join('; ')}`}; cutting`,
  )
  const pairsBefore = new Map(members.map((m) => [m, members.filter((o) => side(o) !== side(m) && connectedBefore(m, o))]))
  across = (m) => pairsBefore.get(m) ?? []
  const cutAt = now()
  await lab.partition(opts.cut)
  await Promise.all(
    members.map((m) =>
      m.untilStatus(
        across(m).map((o) => o.peerId),
        ['backoff', 'connecting'],
        opts.detectTimeoutMs,
      ),
    ),
  )
  // every one of them has been in backoff since the cut (connecting: a retry under way)
  await Promise.all(
    members.map((m) =>
      m.waiters.until(
        () => across(m).every((o) => m.reached(o.peerId, 'backoff', cutAt) !== undefined),
        opts.detectTimeoutMs,
        () => `${m.daemon.host.name}: not every cross-cut peer went to backoff`,
      ),
    ),
  )
  const detectMs = ms(now() - cutAt)
  log(`every cross-cut peer in backoff after ${detectMs} ms`)

  // direct messages across the cut (a first batch now, a second just before the heal), topic messages on each side
  let ackId = 1_000
  const sent: Array<{ from: Member; to: Member; ack: number; text: string }> = []
  const sendBatch = async (batch: number) => {
    const list: typeof sent = []
    for (const m of members) {
      for (const o of across(m)) {
        const ack = ackId++
        const text = `dm${batch} ${m.daemon.host.index}->${o.daemon.host.index} #${ack}`
        list.push({ from: m, to: o, ack, text })
        await m.client.call('send', { peer: o.peerId, protocol: PROTOCOL, data: { text }, ack })
      }
    }
    sent.push(...list)
    return list
  }
  const settled = (list: typeof sent, timeoutMs: number) =>
    Promise.all(
      members.map((m) =>
        m.waiters
          .until(
            () => list.filter((s) => s.from === m).every((s) => m.acks.has(s.ack)),
            timeoutMs,
            () => 'acks',
          )
          .catch(() => {}),
      ),
    )
  const first = await sendBatch(1)
  const tag = `partition-${Math.random().toString(36).slice(2, 8)}`
  const publishedAt = now()
  const published = await Promise.all(
    members.map((m, i) =>
      m.client.call('publish', { topic: opts.topic, data: { tag, from: i } }).then(
        () => true,
        () => false,
      ),
    ),
  )
  // same-side deliveries happen during the partition
  const gotTag = (m: Member, from: number) =>
    (m.topic.get(opts.topic) ?? []).some(
      (x) => (x.data as { tag?: string; from?: number })?.tag === tag && (x.data as { from?: number }).from === from,
    )
  await Promise.all(
    members.map((m) =>
      m.waiters
        .until(
          () => sameSide(m).every((o) => gotTag(m, members.indexOf(o))),
          opts.settleTimeoutMs,
          () => 'same side topic',
        )
        .catch(() => {}),
    ),
  )
  // CI: the partition lasts until the first batch is given up (messageRetryWindowMs), which is also
  // longer than GossipSub's gossip window (3 heartbeats of 1 s)
  if (opts.awaitFirstBatch) await settled(first, opts.settleTimeoutMs)
  await sendBatch(2)
  const remaining = opts.holdMs - (now() - cutAt)
  if (remaining > 0) await new Promise((r) => setTimeout(r, remaining))

  // the monotonic clock is the one a daemon's --cpu-prof stamps its samples with (LAB_NODE_ARGS): the heal's window in them
  log(`healing (monotonic ${monotonicUs()} µs)`)
  const cpuAtHeal = cpuSeconds(members)
  const healAt = now()
  await lab.heal(opts.cut)
  await Promise.all(
    members.map((m) =>
      m.untilStatus(
        across(m).map((o) => o.peerId),
        ['connected', 'syncing'],
        opts.healTimeoutMs,
      ),
    ),
  )
  const reconnects = members.flatMap((m) =>
    across(m).map((o) => ({
      member: m,
      peerId: o.peerId,
      ms: ms((m.reached(o.peerId, 'connected', healAt) ?? m.reached(o.peerId, 'syncing', healAt) ?? now()) - healAt),
    })),
  )
  const reconnectMs = reconnects.map((r) => r.ms)
  const slowest = reconnects.sort((a, b) => b.ms - a.ms)[0]
  const backAt = now()
  const healCpuS = cpuSeconds(members) - cpuAtHeal
  log(
    `every cross-cut peer connected again ${ms(backAt - healAt)} ms after the heal (monotonic ${monotonicUs()} µs); the daemons used ${healCpuS.toFixed(1)} s of CPU meanwhile`,
  )
  // connections each daemon holds then: one per peer, unless two dials crossed (or a stale one lives)
  const connections = (
    await Promise.all(
      members.map((m) =>
        m.client.call<{ connections: number }>('node.info', {}).then(
          (i) => i.connections,
          () => 0,
        ),
      ),
    )
  ).reduce((a, b) => a + b, 0)
  // a marker after the heal reaches everyone: the mesh is whole again
  const afterHeal = (await topicRoundsUntilComplete(members, opts.topic, opts.settleTimeoutMs)).find((r) => r.missing.length === 0)

  // every direct message is settled: acked (and received) or nacked after its window
  await settled(sent, opts.settleTimeoutMs)
  const receivedTexts = (o: Member) => o.received.map((r) => (r.data as { text?: string })?.text)
  let delivered = 0
  let nacked = 0
  let unsettled = 0
  let receivedNotAcked = 0
  let duplicates = 0
  for (const s of sent) {
    const a = s.from.acks.get(s.ack)
    const copies = receivedTexts(s.to).filter((t) => t === s.text).length
    if (copies > 1) duplicates++
    if (!a) unsettled++
    else if (a.delivered) {
      delivered++
      if (copies === 0) unsettled++
    } else {
      nacked++
      if (copies > 0) receivedNotAcked++
    }
  }
  let sameSideDelivered = 0
  let sameSideExpected = 0
  let crossDelivered = 0
  let crossExpected = 0
  for (const [i, m] of members.entries()) {
    if (!published[i]) continue
    for (const o of members) {
      if (o === m) continue
      const got = gotTag(o, i)
      if (side(o) === side(m)) {
        sameSideExpected++
        if (got) sameSideDelivered++
      } else {
        crossExpected++
        if (got) crossDelivered++
      }
    }
  }
  return {
    pairs: reconnectMs.length,
    detectMs,
    reconnectMs,
    direct: { sent: sent.length, delivered, nacked, unsettled, receivedNotAcked, duplicates },
    topic: { published: published.filter(Boolean).length, sameSideDelivered, sameSideExpected, crossDelivered, crossExpected },
    afterHealTopicMs: afterHeal ? ms(afterHeal.publishedAt + afterHeal.allDeliveredMs - healAt) : -1,
    partitionMs: ms(healAt - cutAt),
    connections: { held: connections, onePerPeer: members.length * (members.length - 1) },
    healCpu: { cpuS: healCpuS, wallS: (backAt - healAt) / 1000 },
    notConnected,
    slowest,
    publishToHealMs: ms(healAt - publishedAt),
  }
}

/** CPU seconds (user + system) the members' daemon processes have used so far; 0 for one that is gone. */
function cpuSeconds(members: Member[]): number {
  let ms = 0
  for (const m of members) {
    try {
      if (m.daemon.child.pid !== undefined) ms += processCpuMs(m.daemon.child.pid)
    } catch {}
  }
  return ms / 1000
}

/** Nearest-rank percentile. */
export function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number
}
