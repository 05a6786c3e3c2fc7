import '../src/shims.ts'
import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { buildExamples } from '../scripts/build-examples.ts'
import { createNetns, launchChromiumIn, type Netns, netnsUnavailable, startDaemonIn } from '../test/support/netns.ts'
import { fmt, markdownTable, percentile, publish, runIfMain } from './machine.ts'

/**
 * Browsers through a relay, in real headless Chromium inside a network namespace (WebRTC needs a
 * non-loopback interface): two tabs of examples/browser-chat (a stock js-libp2p node) per round.
 * Switchboard: `switchboard start` as users start it (its own process, default configuration: relay
 * on peer-a, gossip hub `all`), the page served by the daemon. Baseline, in the same run and the same
 * namespace, rounds alternating: a plain js-libp2p relay (bench/stock-relay.ts: WebSockets,
 * circuitRelayServer, GossipSub subscribed to the page's topics), the same page with `?daemon=`.
 * Figures per tab or round:
 * - reservation: the page's node made (the relay's address known) to its first relay address;
 * - WebRTC dial: the dialling tab's `dial()` of the other's `/p2p-circuit/webrtc` address to the
 *   open browser-to-browser connection; tab to WebRTC: the second tab's node made to that connection
 *   (its reservation, finding the first tab on the announce topic through the relay's GossipSub, the dial);
 * - topic latency: one tab publishes, the other's `message` event; one message at a time,
 *   timestamps from both pages' `performance.timeOrigin + now()` (one machine, one clock).
 */

const ROUNDS = 10
const MESSAGES_PER_ROUND = 20
const TOPIC = 'browser-chat/bench'
/** What the stock relay subscribes to, as the daemon's gossip hub joins them by itself. */
const STOCK_TOPICS = ['browser-chat/peers', 'browser-chat', TOPIC]

/** tsx (esbuild keepNames) wraps named functions in `__name(...)`; the page has no such helper. */
const NAME_SHIM = 'globalThis.__name = (f) => f'

interface Round {
  reservation: number[]
  dial: number
  tabToWebRTC: number
  latencies: number[]
}

interface Side {
  name: string
  url: string
  rounds: Round[]
}

async function openTab(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.addInitScript(NAME_SHIM)
  await page.goto(url)
  await page.evaluate(() => window.chatReady!.then(() => undefined))
  return page
}

/** Fails with both tabs' logs when `work` takes longer than `ms`: a stuck round is a finding, not a hang. */
async function within<T>(ms: number, what: string, pages: Page[], work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      const logs = await Promise.all(
        pages.map((p) =>
          p
            .evaluate(
              () =>
                `${Array.from(document.querySelectorAll('#log li'))
                  .map((li) => li.textContent)
                  .join('\n')}\n${JSON.stringify(window.chat?.connections())}`,
            )
            .catch((e: Error) => e.message),
        ),
      )
      reject(new Error(`${what}: not done within ${ms} ms\n${logs.map((l, i) => `--- tab ${i}\n${l}`).join('\n')}`))
    }, ms)
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

async function round(browser: Browser, url: string): Promise<Round> {
  const a = await openTab(browser, url)
  const b = await openTab(browser, url)
  try {
    const reservation = await within(
      30_000,
      'relay reservations',
      [a, b],
      Promise.all(
        [a, b].map((p) =>
          p.evaluate(async () => {
            const chat = window.chat!
            await chat.reserved
            return chat.timings.reserved! - chat.timings.started
          }),
        ),
      ),
    )
    await within(
      30_000,
      'WebRTC between the tabs',
      [a, b],
      Promise.all([a, b].map((p) => p.evaluate(() => window.chat!.webrtc.then(() => undefined)))),
    )
    const [ta, tb] = await Promise.all([a, b].map((p) => p.evaluate(() => window.chat!.timings)))
    const dialler = ta!.dialStarted !== undefined ? ta! : tb!
    const dial = dialler.webrtc! - dialler.dialStarted!
    const tabToWebRTC = tb!.webrtc! - tb!.started

    // topic latency: b in a's view of the topic first (publishing before that reaches nobody)
    const idB = await b.evaluate(() => window.chat!.peerId)
    await Promise.all([a, b].map((p) => p.evaluate((t) => window.chat!.subscribe(t), TOPIC)))
    await a.waitForFunction(
      ({ t, peer }) =>
        (window.chat!.node.services.pubsub as { getSubscribers(t: string): unknown[] }).getSubscribers(t).map(String).includes(peer),
      { t: TOPIC, peer: idB },
      { timeout: 30_000 },
    )
    const latencies: number[] = []
    for (let i = 0; i < MESSAGES_PER_ROUND; i++) {
      const text = `m${i}-${Math.random().toString(36).slice(2)}`
      const arrived = b.evaluate(({ t, text }) => window.chat!.nextMessage({ topic: t, text }).then((m) => performance.timeOrigin + m.at), {
        t: TOPIC,
        text,
      })
      const sent = await a.evaluate(
        ({ t, text }) => {
          const at = performance.timeOrigin + performance.now()
          return window.chat!.publish(t, text).then(() => at)
        },
        { t: TOPIC, text },
      )
      latencies.push((await arrived) - sent)
    }
    return { reservation, dial, tabToWebRTC, latencies }
  } finally {
    await Promise.all(
      [a, b].map((p) =>
        p
          .context()
          .close()
          .catch(() => {}),
      ),
    )
  }
}

interface StockRelay {
  ws: string
  http: string
  child: ChildProcess
  stop(): Promise<void>
}

async function startStockRelay(ns: Netns): Promise<StockRelay> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
  const script = resolve(import.meta.dirname, 'stock-relay.ts')
  const [cmd = 'ip', ...prefix] = ns.prefix
  const child = spawn(cmd, [...prefix, process.execPath, '--import', tsx, script, ...STOCK_TOPICS], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((r) => child.once('close', () => r()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  let out = ''
  const line = await new Promise<string>((resolveLine, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl >= 0) resolveLine(out.slice(0, nl))
    })
    void exited.then(() => reject(new Error(`the stock relay exited before it started: ${out}`)))
  })
  const { ws, http } = JSON.parse(line) as { ws: string; http: string }
  return { ws, http, child, stop }
}

const ms = (n: number) => `${fmt(n)} ms`

function summary(side: Side) {
  const reservation = side.rounds.flatMap((r) => r.reservation)
  const dial = side.rounds.map((r) => r.dial)
  const tab = side.rounds.map((r) => r.tabToWebRTC)
  const latency = side.rounds.flatMap((r) => r.latencies)
  return {
    reservation: [percentile(reservation, 50), percentile(reservation, 99)] as const,
    dial: [percentile(dial, 50), percentile(dial, 99)] as const,
    tab: [percentile(tab, 50), percentile(tab, 99)] as const,
    latency: [percentile(latency, 50), percentile(latency, 99)] as const,
    counts: { reservation: reservation.length, dial: dial.length, latency: latency.length },
  }
}

export function toMarkdown(sides: Side[]): string {
  const [sb, stock] = sides.map(summary)
  const rows: [string, readonly [number, number], readonly [number, number]][] = [
    [`relay reservation (${sb!.counts.reservation} tabs)`, sb!.reservation, stock!.reservation],
    [`WebRTC dial, browser to browser (${sb!.counts.dial} rounds)`, sb!.dial, stock!.dial],
    [`second tab's start to WebRTC (${sb!.counts.dial} rounds)`, sb!.tab, stock!.tab],
    [`topic latency, browser to browser (${sb!.counts.latency} messages)`, sb!.latency, stock!.latency],
  ]
  const table = markdownTable(
    ['measure', 'Switchboard p50', 'p99', 'stock relay p50', 'p99', 'ratio p50', 'ratio p99'],
    rows.map(([name, s, k]) => [name, ms(s[0]), ms(s[1]), ms(k[0]), ms(k[1]), fmt(s[0] / k[0]), fmt(s[1] / k[1])]),
  )
  return [
    '### Browsers through a relay (headless Chromium, network namespace)',
    '',
    `Two tabs of examples/browser-chat per round, ${ROUNDS} rounds per side after one warm-up, alternating. Switchboard: \`switchboard start\`, default configuration, its own process; stock relay: a plain js-libp2p node (WebSockets, \`circuitRelayServer\` with default limits but 64 reservations, GossipSub subscribed to the page's topics and, as in the daemon, without the IP colocation penalty: with it the 11th tab within an hour is left out of the mesh), its own process. All inside one network namespace (a veth pair, both ends inside). Ratio = Switchboard / stock.`,
    '',
    table,
  ].join('\n')
}

export async function run(): Promise<Side[]> {
  const unavailable = await netnsUnavailable()
  if (unavailable) throw new Error(`bench/browser needs a network namespace: ${unavailable}`)
  await buildExamples()
  const ns = await createNetns()
  let browser: Browser | undefined
  let daemon: Awaited<ReturnType<typeof startDaemonIn>> | undefined
  let stock: StockRelay | undefined
  try {
    daemon = await startDaemonIn(ns)
    stock = await startStockRelay(ns)
    browser = await launchChromiumIn(ns)
    const sides: Side[] = [
      { name: 'Switchboard', url: `${daemon.origin}/examples/browser-chat/?token=${daemon.token}`, rounds: [] },
      { name: 'stock relay', url: `${stock.http}/examples/browser-chat/?daemon=${encodeURIComponent(stock.ws)}`, rounds: [] },
    ]
    for (const side of sides) await round(browser, side.url)
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of sides) {
        const result = await round(browser, side.url)
        side.rounds.push(result)
        process.stdout.write(
          `${side.name} round ${r + 1}: reservation ${result.reservation.map((x) => fmt(x)).join('/')} ms, dial ${fmt(result.dial)} ms, tab to WebRTC ${fmt(result.tabToWebRTC)} ms, latency p50 ${fmt(percentile(result.latencies, 50))} ms\n`,
        )
      }
    }
    return sides
  } finally {
    await browser?.close().catch(() => {})
    await stock?.stop().catch(() => {})
    await daemon?.stop().catch(() => {})
    await ns.destroy()
  }
}

runIfMain(import.meta.url, async () => publish('browser', toMarkdown(await run())))
