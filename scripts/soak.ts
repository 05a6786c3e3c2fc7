import '../src/shims.ts'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { fmt, markdownTable, percentile, publish } from '../bench/machine.ts'
import { timeHealth } from '../test/support/health-latency.ts'
import { fireHostileFrames } from '../test/support/hostile-frames.ts'
import { type KillLoopResult, runKillLoop } from '../test/support/kill-loop.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../test/support/listen.ts'
import { startProcessDaemon } from '../test/support/process-daemon.ts'
import { actorIds, churnSessions, openFds } from '../test/support/session-churn.ts'

/**
 * `npm run soak [-- --minutes N]`: what issue 8 promised, for as long as asked. One daemon (every
 * default transport, on 127.0.0.1) gets browser sessions opened and closed, hostile frames, and
 * `/health` timed all along; a second one is killed with SIGKILL and restarted during concurrent
 * writes, every acknowledged write checked after each restart. Prints the counts and appends them
 * to bench/results.md. Not part of `npm test`.
 */

/** Resident memory of a process in MiB, from /proc. */
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024

async function churnDaemon(until: number) {
  const d = await startProcessDaemon({ listen: LOOPBACK_DEFAULT_LISTEN })
  try {
    const observer = await d.client()
    const pid = d.child.pid as number
    const baseActors = await actorIds(observer)
    const baseFds = openFds(pid)
    const baseRss = rssMiB(pid)
    const [sessions, hostile, health] = await Promise.all([
      churnSessions(d, { until, concurrency: 4 }),
      fireHostileFrames({ wsUrl: d.wsUrl, token: d.token, durationMs: until - Date.now() }),
      // every 20 ms, each latency counted from when the request was due
      timeHealth(d.origin, until - Date.now(), 20),
    ])
    // give the last sessions' nodes time to stop: poll until the actors are back, at most 30 s
    const settleBy = Date.now() + 30_000
    let actors = await actorIds(observer)
    while (JSON.stringify(actors) !== JSON.stringify(baseActors) && Date.now() < settleBy) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      actors = await actorIds(observer)
    }
    const alive = d.child.exitCode === null && d.child.signalCode === null
    return {
      sessions,
      hostile,
      health,
      alive,
      extraActors: actors.length - baseActors.length,
      fdDelta: alive ? openFds(pid) - baseFds : Number.NaN,
      rss: { base: baseRss, end: alive ? rssMiB(pid) : Number.NaN },
    }
  } finally {
    await d.destroy()
  }
}

function report(minutes: number, churn: Awaited<ReturnType<typeof churnDaemon>>, kills: KillLoopResult): string {
  const hostile = churn.hostile
  const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0)
  const rows: (string | number)[][] = [
    ['duration', `${minutes} min`],
    ['session peers opened and closed', churn.sessions],
    ['churn daemon alive at the end', churn.alive ? 'yes' : 'NO'],
    ['actors left over / fds over baseline', `${churn.extraActors} / ${churn.fdDelta}`],
    ['churn daemon RSS at start / end', `${fmt(churn.rss.base)} / ${fmt(churn.rss.end)} MiB`],
    ['hostile frames sent (kinds)', `${hostile.sent} (${Object.keys(hostile.byKind).length})`],
    ['answered with an error / closed by the daemon', `${sum(hostile.answered)} / ${sum(hostile.closed)}`],
    ['hostile frames unanswered in time / ended wrongly', `${hostile.timeouts} / ${hostile.unexpected.length}`],
    ['/health requests, one due every 20 ms', churn.health.length],
    [
      '/health p50 / p99 / max, from when due',
      `${fmt(percentile(churn.health, 50))} / ${fmt(percentile(churn.health, 99))} / ${fmt(Math.max(...churn.health))} ms`,
    ],
    ['kill -9 rounds', kills.rounds],
    [
      'acknowledged writes (ws files / http files / bans / known peers)',
      `${kills.acknowledged.wsFiles} / ${kills.acknowledged.httpFiles} / ${kills.acknowledged.bans} / ${kills.acknowledged.knownPeers}`,
    ],
    ['acknowledged writes lost', kills.lost.length],
    [
      'orphan temp files after restarts: ours / blockstore (swept by the first collection)',
      `${kills.orphanTemps} / ${kills.blockstoreTemps}`,
    ],
    ['write errors before a kill', kills.writeErrors.length],
    ['restart to banner p50 / max', `${fmt(percentile(kills.restartMs, 50))} / ${fmt(Math.max(...kills.restartMs))} ms`],
  ]
  return markdownTable(['measure', 'value'], rows)
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } })
  const minutes = Number(values.minutes)
  if (!Number.isFinite(minutes) || minutes <= 0) {
    process.stderr.write(`soak: --minutes must be a positive number, not ${JSON.stringify(values.minutes)}\n`)
    return 2
  }
  const until = Date.now() + minutes * 60_000
  process.stdout.write(`soak: ${minutes} min, until ${new Date(until).toISOString()}\n`)
  const [churn, kills] = await Promise.all([
    churnDaemon(until),
    runKillLoop({ deadline: until, defaultListeners: (round) => round % 5 === 0, log: (m) => process.stdout.write(`kill-loop: ${m}\n`) }),
  ])
  await publish('soak', report(minutes, churn, kills))
  const failed = !churn.alive || kills.lost.length > 0 || churn.hostile.timeouts > 0 || churn.hostile.unexpected.length > 0
  if (kills.lost.length > 0) process.stderr.write(`lost:\n${kills.lost.join('\n')}\n`)
  return failed ? 1 : 0
}

// exit explicitly: libp2p and Helia leave timers behind after stopping
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
    process.exit(1)
  },
)
