/**
 * `npm run lab`: issue 14's full set on a network of namespaces (docs/lab.md). Twenty daemons on three
 * sites by default, with the daemon's default timings; prints the figures and appends them to
 * bench/results.md beside the goals.
 *
 *   npm run lab -- [--hosts 20] [--sites 3] [--partition-s 60] [--churn-s 300] [--churn-every-s 5]
 *                  [--attackers 200] [--only 1,2,3,4,5,6] [--no-record] [--config '{"peerRetryMaxMs":1000}']
 *
 * Scenario 6 is the plain library's heal on the same network (raw-heal.ts), once the daemons are stopped.
 */
import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import { parseArgs } from 'node:util'
import { fmt, publish } from '../../bench/machine.ts'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import type { Config } from '../../src/config.ts'
import type { DhtOp } from '../../src/machines/dht/dht.types.ts'
import { runEclipse } from './eclipse.ts'
import { createLab, type Lab, labUnavailable, removeStaleLabs } from './lab.ts'
import { startLabDaemon, tcpAddrOf } from './lab-daemon.ts'
import { rawHeal } from './raw-heal.ts'
import {
  addEachOther,
  addOthers,
  dhtReadyTimes,
  type Fleet,
  Member,
  now,
  partitionAndHeal,
  pct,
  startFleet,
  subscribeAll,
  topicRoundsUntilComplete,
  untilTopicPeers,
} from './scenarios.ts'

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '20' },
    sites: { type: 'string', default: '3' },
    'partition-s': { type: 'string', default: '60' },
    'churn-s': { type: 'string', default: '300' },
    'churn-every-s': { type: 'string', default: '5' },
    attackers: { type: 'string', default: '200' },
    only: { type: 'string', default: '1,2,3,4,5,6' },
    config: { type: 'string', default: '{}' },
    'no-record': { type: 'boolean', default: false },
  },
})
const HOSTS = Number(values.hosts)
const SITES = Number(values.sites)
const PARTITION_MS = Number(values['partition-s']) * 1000
const CHURN_MS = Number(values['churn-s']) * 1000
const CHURN_EVERY_MS = Number(values['churn-every-s']) * 1000
const ATTACKERS = Number(values.attackers)
const ONLY = new Set(values.only.split(',').map(Number))
const CONFIG = JSON.parse(values.config) as Partial<Config>
const TOPIC = 'lab/full'

const log = (s: string) => process.stdout.write(`[lab ${new Date().toISOString().slice(11, 19)}] ${s}\n`)
const sections: string[] = []
const section = (title: string, lines: string[]) => {
  sections.push(`### ${title}\n\n${lines.join('\n')}`)
  log(`${title}\n  ${lines.join('\n  ')}`)
}
const dist = (v: number[]) =>
  `p50 ${fmt(pct(v, 50), 0)} ms, p99 ${fmt(pct(v, 99), 0)} ms, max ${fmt(Math.max(...v), 0)} ms (n = ${v.length})`
const goal = (v: number[]) => (pct(v, 50) < 1000 && pct(v, 99) < 2000 ? 'met' : 'NOT met')
const rssMiB = (pid: number | undefined) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Math.round(Number(m[1]) / 1024) : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** The daemon's count of pushes dropped for slow clients (/metrics), or -1 when it cannot be read. */
const droppedPushes = (m: Member) =>
  new Promise<number>((resolve) => {
    const req = get(
      { socketPath: m.daemon.host.socket, path: '/metrics', headers: { authorization: `Bearer ${m.daemon.token}` } },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d))
        res.on('end', () => resolve(Number(/^switchboard_pushes_dropped_total (\d+)/m.exec(body)?.[1] ?? -1)))
      },
    )
    req.on('error', () => resolve(-1))
  })

/** Daemons that exited without us killing or stopping them. */
const crashes: string[] = []
const ours = new WeakSet<object>()
const watchCrash = (m: Member) => {
  void m.daemon.exited.then((r) => {
    if (ours.has(m.daemon)) return
    crashes.push(`${m.daemon.host.name} exited (${r.code ?? r.signal})\n${m.daemon.stderr().slice(-2000)}`)
    log(`DAEMON DOWN: ${crashes.at(-1)}`)
  })
}

/** `member`'s activity feed about `peerId` since `sinceMs` (epoch ms), one line per entry. */
async function activityAbout(member: Member, peerId: string, sinceMs = 0): Promise<string[]> {
  const { activity } = await member.client
    .call<{ activity: Array<{ type: string; peerId?: string; message: string; at: number }> }>('activity.list', { limit: 500 })
    .catch(() => ({ activity: [] }))
  return activity
    .filter((a) => a.peerId === peerId && a.at >= sinceMs)
    .map((a) => `${new Date(a.at).toISOString().slice(11, 23)} ${a.type} ${a.message.slice(0, 400)}`)
}

async function scenario1(fleet: Fleet) {
  const { members } = fleet
  const ready = await dhtReadyTimes(members, 120_000)
  await subscribeAll(members, TOPIC)
  const knowAll = await untilTopicPeers(members, TOPIC, 30_000)
  const rounds = await topicRoundsUntilComplete(members, TOPIC, 60_000)
  const done = rounds.find((r) => r.missing.length === 0)
  section(`Scenario 1: ${members.length} daemons bootstrap from one seed`, [
    `- start (spawn to banner, all but the seed at once): ${dist(fleet.startMs)}`,
    `- spawn to DHT \`ready\`: ${dist(ready)}; all ready ${fmt(Math.max(...ready), 0)} ms after the first spawn`,
    `- every daemon knew every other on the topic: ${knowAll < 0 ? 'not within 30 s' : `${knowAll} ms after subscribing`}`,
    `- topic rounds (one message per host, one round a second) until one reached all ${members.length - 1} others: ${rounds.length}; deliveries per round ${rounds.map((r) => `${r.delivered}/${r.expected}`).join(', ')}; the complete round reached everyone ${done ? `in ${done.allDeliveredMs} ms` : 'NEVER'}`,
  ])
}

/** Scenario 2's reconnect times, for scenario 6's ratio. */
let daemonHealMs: number[] | undefined

async function scenario2(lab: Lab, fleet: Fleet) {
  const cut = lab.sites.map((_, i) => i + 1)
  const r = await partitionAndHeal(lab, fleet.members, {
    cut,
    holdMs: PARTITION_MS,
    awaitFirstBatch: false,
    topic: TOPIC,
    detectTimeoutMs: 120_000,
    healTimeoutMs: 120_000,
    settleTimeoutMs: 120_000,
    log,
  })
  daemonHealMs = r.reconnectMs
  log(`reconnect times after the heal (ms, sorted): ${[...r.reconnectMs].sort((a, b) => a - b).join(' ')}`)
  if (r.slowest) {
    const about = (await activityAbout(r.slowest.member, r.slowest.peerId)).slice(-6)
    log(
      `slowest pair (${r.slowest.ms} ms): ${r.slowest.member.daemon.host.name} -> ${r.slowest.peerId.slice(-6)}:\n    ${about.join('\n    ')}`,
    )
  }
  section(`Scenario 2: the ${lab.sites.length} sites partitioned for ${fmt(r.partitionMs / 1000, 0)} s, then healed`, [
    `- before the cut, added peers that never connected (left out): ${r.notConnected.length}${r.notConnected.length > 0 ? `, e.g. ${r.notConnected.slice(0, 3).join('; ')}` : ''}`,
    `- every added peer across the cut in \`backoff\` ${r.detectMs} ms after the cut (libp2p's connection monitor: a ping every 10 s)`,
    `- back to \`connected\` after the heal, over ${r.pairs} (daemon, peer) pairs: ${dist(r.reconnectMs)}; goal p50 < 1000 ms, p99 < 2000 ms: **${goal(r.reconnectMs)}**`,
    `- connections held once all were back: ${r.connections.held} (one per peer at each end: ${r.connections.onePerPeer}); the daemons used ${fmt(r.healCpu.cpuS, 1)} s of CPU in the ${fmt(r.healCpu.wallS, 1)} s from the heal until then`,
    `- direct messages across the cut: ${r.direct.sent} sent, ${r.direct.delivered} delivered (acked), ${r.direct.nacked} nacked (\`delivered: false\`), ${r.direct.unsettled} unsettled or acked but not received, ${r.direct.duplicates} duplicated`,
    `- topic messages during the partition: ${r.topic.published} published; on the publisher's side ${r.topic.sameSideDelivered}/${r.topic.sameSideExpected} delivered, across the cut after the heal ${r.topic.crossDelivered}/${r.topic.crossExpected} (the heal came ${fmt(r.publishToHealMs / 1000, 0)} s after them; GossipSub keeps no messages for unreachable peers and gossips ids for 3 heartbeats)`,
    `- topic messages after the heal: a round reached every daemon ${r.afterHealTopicMs < 0 ? 'NEVER' : `${r.afterHealTopicMs} ms after the heal`}`,
  ])
}

async function scenario3(lab: Lab, fleet: Fleet) {
  const members = fleet.members
  const mover = members.at(-1)!
  const others = members.filter((m) => m !== mover)
  const oldAddr = mover.daemon.host.addr
  // every daemon wants every other and is connected to it (as after scenario 2): run alone, nobody
  // would redial the mover
  await addEachOther(members)
  await Promise.all(members.map((m) => m.refreshPeers()))
  await Promise.all(
    members.map((m) =>
      m.untilStatus(
        members.filter((o) => o !== m).map((o) => o.peerId),
        ['connected', 'syncing'],
        120_000,
      ),
    ),
  )
  const to = (mover.daemon.host.site % lab.sites.length) + 1
  const t0 = now()
  await lab.move(mover.daemon.host, to)
  const newAddr = mover.daemon.host.addr
  log(`scenario 3: ${mover.daemon.host.name} moved from ${oldAddr} to ${newAddr}`)
  // each pair (mover, other) loses its connection (one side or both see backoff: whichever side's
  // ping fails first; the mover redials from its new address, and a side that still holds the old
  // connection then never sees the peer go), then every side that lost it has it connected again
  const sides = (o: Member): Array<[Member, string]> => [
    [o, mover.peerId],
    [mover, o.peerId],
  ]
  const lostAt = (o: Member) => {
    const t = sides(o)
      .map(([m, p]) => m.reached(p, 'backoff', t0))
      .filter((x): x is number => x !== undefined)
    return t.length > 0 ? Math.min(...t) : undefined
  }
  const foundAt = (o: Member) => {
    if (lostAt(o) === undefined) return undefined
    const t = sides(o).map(([m, p]) => {
      const b = m.reached(p, 'backoff', t0)
      return b === undefined ? (['connected', 'syncing'].includes(m.status(p) ?? '') ? 0 : undefined) : m.reached(p, 'connected', b)
    })
    return t.every((x) => x !== undefined) ? Math.max(...(t as number[])) : undefined
  }
  const pairsDone = () => others.every((o) => foundAt(o) !== undefined)
  await Promise.race([
    mover.waiters.until(pairsDone, 180_000, () => 'mover'),
    ...others.map((o) => o.waiters.until(pairsDone, 180_000, () => 'found again')),
  ]).catch((e) => log(`scenario 3: ${(e as Error).message}`))
  const lost = others.map(lostAt).filter((x): x is number => x !== undefined)
  const lostMs = lost.length > 0 ? Math.round(Math.max(...lost) - t0) : -1
  const foundMs = others
    .map(foundAt)
    .filter((x): x is number => x !== undefined)
    .map((x) => Math.round(x - t0))
  const info = await mover.client.call<{ addrs: string[] }>('node.info')
  const advertises = info.addrs.some((a) => a.includes(`/ip4/${newAddr}/`))
  // the stale address in the others' address books, once each holds a new one: the mover's new
  // addresses come with identify on the connection it makes, a moment after that connection counts
  // (read at once, most books did not have them yet)
  type Book = { entries: Array<{ multiaddr: string; peerId?: string; quality: number; failures: number; successes: number }> }
  const moverEntries = (book: Book) => book.entries.filter((e) => e.peerId === mover.peerId || e.multiaddr.endsWith(mover.peerId))
  const hasNew = (book: Book) => moverEntries(book).some((e) => e.multiaddr.includes(`/ip4/${newAddr}/`))
  const readBook = (m: Member) => m.client.call<Book>('addressbook.list', {})
  const booksFrom = now()
  const books = await Promise.all(
    others.map(async (m) => {
      let book = await readBook(m)
      while (!hasNew(book) && now() - booksFrom < 15_000) {
        await new Promise((r) => setTimeout(r, 250))
        book = await readBook(m)
      }
      return book
    }),
  )
  const newInBooks = books.filter(hasNew).length
  let staleLower = 0
  let staleSeen = 0
  const samples: string[] = []
  for (const book of books) {
    const mine = moverEntries(book)
    const stale = mine.filter((e) => e.multiaddr.includes(`/ip4/${oldAddr}/tcp/`))
    const fresh = mine.filter((e) => e.multiaddr.includes(`/ip4/${newAddr}/tcp/`))
    if (stale.length === 0) continue
    staleSeen++
    const sq = Math.max(...stale.map((e) => e.quality))
    const fq = fresh.length > 0 ? Math.max(...fresh.map((e) => e.quality)) : Number.NaN
    if (fresh.length > 0 && sq < fq) staleLower++
    if (samples.length < 3) samples.push(`stale ${fmt(sq)} (failures ${Math.max(...stale.map((e) => e.failures))}) vs new ${fmt(fq)}`)
  }
  section('Scenario 3: a host changes its address (moves to another site), no restart', [
    `- its ${others.length} peers lost the old connection (\`backoff\` on one side of the pair or both) within ${lostMs} ms of the move; found again (connected on both sides): ${foundMs.length} of ${others.length}, ${foundMs.length > 0 ? dist(foundMs) : ''} after the move`,
    `- it advertises its new address without a restart: ${advertises ? 'yes' : 'NO'} (${info.addrs.filter((a) => a.includes(newAddr)).length} addresses on ${newAddr})`,
    `- the new address is in ${newInBooks} of the ${others.length} others' address books within ${fmt((now() - booksFrom) / 1000, 1)} s of all being found again`,
    `- the stale address ranks below the new one in ${staleLower} of the ${staleSeen} address books that hold it (e.g. ${samples.join('; ')})`,
  ])
}

async function scenario4(lab: Lab, fleet: Fleet) {
  const members = fleet.members
  const seed = members[0]!
  const bootstrap = [tcpAddrOf(seed.daemon)]
  const actorCount = async (m: Member) =>
    (await m.client.call<{ actors: unknown[] }>('actors.list', {}).catch(() => ({ actors: [] as unknown[] }))).actors.length
  const up = (m: Member) => m.daemon.child.exitCode === null && m.daemon.child.signalCode === null
  // every daemon wants every other (as after scenario 2), so each pair has an end that redials; run
  // alone, two daemons never restarted would otherwise have no reason to be connected at all
  await addEachOther(members)
  const actorsBefore = await Promise.all(members.map(actorCount))
  const rssBefore = rssMiB(seed.daemon.child.pid)
  const restarts: Array<{ index: number; at: number; spawnedAt: number; killedAt: number; peerId: string; member: Member }> = []
  const errors: string[] = []
  const down = new Set<number>()
  const t0 = now()
  const pending: Promise<void>[] = []
  let kills = 0
  while (now() - t0 < CHURN_MS) {
    const candidates = members.map((_, i) => i).filter((i) => i !== 0 && !down.has(i))
    const i = candidates[Math.floor(Math.random() * candidates.length)]
    if (i !== undefined) {
      down.add(i)
      kills++
      const victim = members[i]!
      ours.add(victim.daemon)
      pending.push(
        (async () => {
          await victim.daemon.kill()
          const killedAt = now()
          try {
            const d = await startLabDaemon(lab, victim.daemon.host, { bootstrap, dataDir: victim.daemon.dataDir })
            const m = await Member.open(d)
            watchCrash(m)
            members[i] = m
            restarts.push({ index: i, at: d.startedAt, spawnedAt: d.spawnedAt, killedAt, peerId: d.peerId, member: m })
            // a restart forgets what was added: add the others again, as an app would on start
            await addOthers(m, members)
          } catch (err) {
            errors.push(`restart of ${victim.daemon.host.name}: ${(err as Error).message.split('\n')[0]}`)
            log(`churn: ${errors.at(-1)}`)
          } finally {
            down.delete(i)
          }
        })(),
      )
    }
    await new Promise((r) => setTimeout(r, CHURN_EVERY_MS))
  }
  await Promise.all(pending)
  const churnEnd = now()
  // reconnects: for each restart, each other daemon that was up sees the restarted one connected again
  const live = members.filter(up)
  if (live.length < members.length) log(`churn: ${members.length - live.length} daemons not running at the end`)
  await Promise.all(live.map((m) => m.refreshPeers().catch((e) => errors.push(`${m.daemon.host.name}: ${(e as Error).message}`))))
  await Promise.all(
    live.map((m) =>
      m
        .untilStatus(
          members.filter((o) => o !== m).map((o) => o.peerId),
          ['connected', 'syncing'],
          60_000,
        )
        .catch((e) => errors.push((e as Error).message)),
    ),
  )
  const reconnect: number[] = []
  const fromSpawn: number[] = []
  let slowest: { member: Member; peerId: string; ms: number; at: number } | undefined
  let unseen = 0
  let seenByRestarted = 0
  const seen = (view: Member, peerId: string, since: number) =>
    view.reached(peerId, 'connected', since) ?? view.reached(peerId, 'syncing', since)
  for (const r of restarts) {
    for (const m of members) {
      // only daemons that were up through the restart and saw it (a daemon restarted since has a new view)
      if (m.peerId === r.peerId || m.createdAt > r.at) continue
      // from the kill: a restarted daemon dials its peers before it prints its banner, so one may see it
      // connected before r.at (counted as 0), and the next `connected` after r.at is a later sync's
      // either end of the pair: an observer that held a connection to the killed process (WebRTC-direct
      // hears no close) shows the peer connected throughout, so its view has no transition when the new
      // connection comes; the restarted daemon's own view has it (its first view is read at its banner)
      const byObserver = seen(m, r.peerId, r.killedAt)
      const byRestarted = seen(r.member, m.peerId, 0)
      const first = byObserver === undefined ? byRestarted : byRestarted === undefined ? byObserver : Math.min(byObserver, byRestarted)
      // a `connected` after the daemon's next kill belongs to its next start
      const nextKill = Math.min(...restarts.filter((x) => x.index === r.index && x.killedAt > r.killedAt).map((x) => x.killedAt))
      const at = first !== undefined && first < nextKill ? first : undefined
      if (at === undefined) {
        unseen++
        continue
      }
      if (at !== byObserver) seenByRestarted++
      reconnect.push(Math.max(0, Math.round(at - r.at)))
      fromSpawn.push(Math.round(at - r.spawnedAt))
      if (slowest === undefined || at - r.at > slowest.ms) slowest = { member: m, peerId: r.peerId, ms: Math.round(at - r.at), at: r.at }
    }
  }
  const sorted = [...reconnect].sort((a, b) => a - b)
  log(`churn reconnects (ms, sorted, every 10th): ${sorted.filter((_, i) => i % 10 === 0).join(' ')}`)
  log(`pushes dropped for slow clients, per live daemon: ${(await Promise.all(live.map(droppedPushes))).join(' ')}`)
  if (slowest && up(slowest.member)) {
    // what the daemon that saw it last did about the restarted peer, from the restart's banner on
    const { member, peerId, ms, at } = slowest
    const about = (await activityAbout(member, peerId, Date.now() - (now() - at) - 5_000)).slice(0, 12)
    const seen = (member.peers.get(peerId)?.history ?? []).map((h) => `${h.status}@${Math.round(h.at - at)}`).join(' ')
    log(
      `slowest churn reconnect (${ms} ms after the banner): ${member.daemon.host.name} -> ${peerId.slice(-6)}; its peer.state pushes (ms from the banner): ${seen}\n    ${about.join('\n    ')}`,
    )
  }
  // a pair still not connected a minute after the churn: what each end says about the other
  const missing = live.flatMap((m) =>
    members.filter((o) => o !== m && !['connected', 'syncing'].includes(m.status(o.peerId) ?? '')).map((o) => ({ m, o })),
  )
  const dhtState = async (m: Member) => {
    const { actors } = await m.client
      .call<{ actors: ActorSnapshot[] }>('actors.list', { prefix: 'dht:' })
      .catch(() => ({ actors: [] as ActorSnapshot[] }))
    const c = actors[0]?.context as { queued: number; runningOps: DhtOp[]; routingTableSize: number } | undefined
    const ops = (c?.runningOps ?? []).map((op) => `${op.kind} ${op.key.slice(-6)} ${fmt((Date.now() - op.enqueuedAt) / 1000, 1)} s`)
    return `dht ${actors[0]?.value ?? '?'}, routing table ${c?.routingTableSize}, running [${ops.join(', ')}], queued ${c?.queued}`
  }
  for (const { m, o } of missing.slice(0, 3)) {
    const history = (view: Member, peerId: string) =>
      (view.peers.get(peerId)?.history ?? [])
        .map((h) => `${h.status}@${new Date(Date.now() - (now() - h.at)).toISOString().slice(11, 23)}`)
        .join(' ') || 'none'
    log(
      [
        `not connected after the churn: ${m.daemon.host.name} (${m.peerId.slice(-6)}, up since ${fmt((now() - m.createdAt) / 1000, 0)} s) -> ${o.daemon.host.name} (${o.peerId.slice(-6)}, up since ${fmt((now() - o.createdAt) / 1000, 0)} s)`,
        `  ${m.daemon.host.name}: ${await dhtState(m)}`,
        `  ${m.daemon.host.name} pushed: ${history(m, o.peerId)}; its feed about it:`,
        ...(await activityAbout(m, o.peerId)).slice(-8).map((l) => `    ${l}`),
        `  ${o.daemon.host.name} pushed: ${history(o, m.peerId)}; its feed about it:`,
        ...(await activityAbout(o, m.peerId)).slice(-8).map((l) => `    ${l}`),
      ].join('\n'),
    )
  }
  const ready = await dhtReadyTimes(live, 60_000).then(
    () => live.length,
    () => -1,
  )
  const actorsAfter = await Promise.all(members.map(actorCount))
  const rssAfter = rssMiB(seed.daemon.child.pid)
  section(
    `Scenario 4: churn, a random daemon killed (SIGKILL) and restarted every ${CHURN_EVERY_MS / 1000} s for ${fmt((churnEnd - t0) / 1000, 0)} s`,
    [
      `- ${kills} kills, ${restarts.length} restarts; restart errors: ${errors.length === 0 ? 'none' : errors.slice(0, 5).join('; ')}`,
      `- daemons that died by themselves: ${crashes.length}`,
      `- daemons running after the churn: ${live.length} of ${members.length}; DHT \`ready\` on every one of them: ${ready === live.length ? 'yes' : 'NO'}`,
      `- a restarted daemon connected again (banner to \`connected\` with each other daemon, whichever end saw it first): ${reconnect.length > 0 ? dist(reconnect) : 'n/a'}; goal p50 < 1000 ms, p99 < 2000 ms: **${reconnect.length > 0 ? goal(reconnect) : 'n/a'}**; ${reconnect.filter((x) => x === 0).length} of them before the banner (0), ${seenByRestarted} seen first by the restarted end, ${unseen} pairs with no connection seen at either end before the end or the next kill`,
      `- the same from the restart's spawn (the daemon's start included): ${fromSpawn.length > 0 ? dist(fromSpawn) : 'n/a'}`,
      `- actors per daemon before/after (min-max): ${Math.min(...actorsBefore)}-${Math.max(...actorsBefore)} / ${Math.min(...actorsAfter)}-${Math.max(...actorsAfter)}; the seed (never killed): RSS ${rssBefore} -> ${rssAfter} MiB`,
    ],
  )
}

async function scenario6(lab: Lab) {
  const r = await rawHeal(lab, HOSTS, PARTITION_MS, log)
  log(`raw reconnect times after the heal (ms, sorted): ${[...r.reconnectMs].sort((a, b) => a - b).join(' ')}`)
  const ratio = (p: number) => `${(pct(daemonHealMs ?? [], p) / Math.max(1, pct(r.reconnectMs, p))).toFixed(1)}×`
  const ratios =
    daemonHealMs === undefined || r.reconnectMs.length === 0
      ? ''
      : `; scenario 2's daemons / the plain library: ${ratio(50)} at p50, ${ratio(99)} at p99`
  section(`Scenario 6: the plain library's heal on the same network (the floor under scenario 2)`, [
    `- ${HOSTS} js-libp2p nodes (bench/support/raw-lab-node.ts: the daemon's default transports and services, in-memory stores, nothing redials by itself), one per host, connected to each other; the connections across the cut hung up, the ${lab.sites.length} sites partitioned for ${fmt(PARTITION_MS / 1000, 0)} s, then healed; at the heal the lower-index end of each pair across the cut dials it, all at once (told the moment of the heal, which no daemon is), and again at once if that dial fails`,
    `- up after the heal, over ${r.connections} connections (each counted once; scenario 2 counts each at both ends): ${r.reconnectMs.length > 0 ? dist(r.reconnectMs) : 'none'}${ratios}; goal p50 < 1000 ms, p99 < 2000 ms: **${r.reconnectMs.length > 0 ? goal(r.reconnectMs) : 'n/a'}**`,
    `- dials that failed: ${r.failures.length} (a pair whose dial failed was dialled again at once, 3 dials at most); pairs never up: ${r.neverUp}${r.failures.length > 0 ? `; e.g. ${r.failures.slice(0, 3).join('; ')}` : ''}`,
    `- the nodes used ${fmt(r.cpuS, 1)} s of CPU in the ${fmt(r.wallS, 1)} s from the heal until the last dial settled`,
  ])
}

async function stopFleet(fleet: Fleet | undefined) {
  if (!fleet) return
  for (const m of fleet.members) ours.add(m.daemon)
  await fleet.stop()
}

async function daemonScenarios(lab: Lab, fleet: Fleet) {
  for (const m of fleet.members) watchCrash(m)
  log(`${HOSTS} daemons started`)
  if (ONLY.has(1)) await scenario1(fleet)
  if (ONLY.has(2)) await scenario2(lab, fleet)
  if (ONLY.has(3)) await scenario3(lab, fleet)
  if (ONLY.has(4)) await scenario4(lab, fleet)
  if (ONLY.has(5)) {
    const lines = await runEclipse(lab, fleet.members[1]!, lab.hosts[HOSTS]!, ATTACKERS).catch((err: Error) => [
      `- did not complete: ${err.message.split('\n')[0]}`,
    ])
    section(`Scenario 5: eclipse attempt, ${ATTACKERS} attacker identities on one /16`, lines)
  }
  const alive = fleet.members.filter((m) => m.daemon.child.exitCode === null && m.daemon.child.signalCode === null).length
  section('Daemons', [
    `- ${alive} of ${HOSTS} running at the end; ${crashes.length} died by themselves${crashes.length ? `:\n${crashes.join('\n')}` : ''}`,
  ])
}

async function main() {
  const unavailable = await labUnavailable()
  if (unavailable) {
    console.error(`npm run lab: ${unavailable}`)
    process.exit(2)
  }
  const stale = await removeStaleLabs()
  if (stale.length > 0) log(`removed ${stale.length} stale namespaces of crashed runs`)
  const t0 = now()
  const lab = await createLab({ sites: SITES, hosts: HOSTS + (ONLY.has(5) ? 1 : 0) })
  log(`lab ${lab.id}: ${SITES} sites, ${lab.hosts.length} hosts in ${Math.round(now() - t0)} ms`)
  let fleet: Fleet | undefined
  try {
    // scenario 6 alone needs no daemons
    if ([1, 2, 3, 4, 5].some((n) => ONLY.has(n))) {
      fleet = await startFleet(lab, HOSTS, CONFIG)
      await daemonScenarios(lab, fleet)
    }
    // the daemons stop first: they would take CPU from the plain library's heal
    await stopFleet(fleet)
    fleet = undefined
    if (ONLY.has(6)) await scenario6(lab)
  } finally {
    await stopFleet(fleet)
    await lab.destroy()
  }
  const body = [
    `${HOSTS} daemons (\`switchboard start\`, default configuration${values.config !== '{}' ? ` plus ${values.config}` : ''}) in their own network namespaces on ${SITES} sites joined by a router namespace (test/lab, docs/lab.md); goals: reconnect p50 < 1 s and p99 < 2 s after a heal, every topic message delivered that GossipSub can, no daemon down.`,
    ...sections,
  ].join('\n\n')
  if (!values['no-record']) await publish(`network lab (npm run lab, ${HOSTS} daemons)`, body)
  else process.stdout.write(`\n${body}\n`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(1)
  },
)
