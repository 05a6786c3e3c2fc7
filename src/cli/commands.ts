import { createReadStream, createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { CID } from 'multiformats/cid'
import type { SwitchboardClient } from '../client/client.ts'
import { resolveConfig } from '../config.ts'
import { asCliError, CliError, connectDaemon, type DaemonAddress, daemonAddress, exitForCode } from './daemon-client.ts'
import { EXIT } from './exit-codes.ts'
import { ago, bytes, json, jsonLine, out, Progress, table } from './output.ts'

/**
 * The client commands of `switchboard` (info, peers, pair, join, topics, files, actors, bans): one
 * table, each command with its subcommands, usage, options and help in one place. Each talks to the
 * daemon running on the data directory through the client library, with the token kept there.
 */

type Options = NonNullable<ParseArgsConfig['options']>
type Values = Record<string, string | boolean | string[] | undefined>

interface Ctx {
  args: string[]
  values: Values
  json: boolean
  addr: DaemonAddress
  client: () => Promise<SwitchboardClient>
  /** Rejects (exit 8) when the connection to the daemon drops: commands that keep running race it. */
  lost: Promise<never>
}

interface Sub {
  usage: string
  summary: string
  /** Positionals: [min, max]. */
  args: [number, number]
  options?: Options
  /** Lines of help beyond the usage line. */
  help?: string
  /** Commands that wait for pushes run without a default call timeout. */
  timeoutMs?: number
  /** Resolves with the exit code, or nothing for 0. */
  // biome-ignore lint/suspicious/noConfusingVoidType: commands that print and end return nothing
  run(ctx: Ctx): Promise<number | undefined | void>
}

interface Command {
  summary: string
  /** The subcommand used when none is named (`peers` = `peers ls`), or the command itself. */
  default: string
  subs: Record<string, Sub>
}

/** Options every client command takes. */
const GLOBAL: Options = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

const GLOBAL_HELP = `Options of every command:
  --data-dir <dir>   data directory of the daemon to talk to (default: $SWITCHBOARD_HOME or ~/.switchboard)
  --json             print JSON for scripts: one document, or one per line for watch, topics sub and pair
  -h, --help         show this help`

const peerIdArg = (ctx: Ctx, i = 0) => ctx.args[i] as string

function printPeers(peers: Array<Record<string, unknown>>): void {
  if (peers.length === 0) return void out('no peers')
  const now = Date.now()
  out(
    table(
      ['PEER ID', 'NAME', 'STATUS', 'CONNECTION', 'KNOWN', 'LAST SYNC', 'LAST ERROR'],
      peers.map((p) => [
        String(p.peerId),
        String(p.name || '-'),
        String(p.status),
        String(p.connectionType),
        p.known ? 'yes' : p.added ? 'added' : 'no',
        ago(p.lastSyncAt as number | null, now),
        String(p.lastError ?? ''),
      ]),
    ),
  )
}

const info: Command = {
  summary: 'the daemon: peer id, addresses, DHT, connections',
  default: '',
  subs: {
    '': {
      usage: 'info',
      summary: 'show the daemon peer, its addresses, reachability and connections',
      args: [0, 0],
      async run(ctx) {
        const c = await ctx.client()
        const i = await c.call('node.info')
        if (ctx.json) return void json(i)
        const reach = i.reachability as { status?: string } | undefined
        out(
          [
            `peer id       ${i.peerid}`,
            `alias         ${i.alias}`,
            `version       ${i.version}`,
            `dht ready     ${i.dhtReady}`,
            `connections   ${i.connections}`,
            `reachability  ${reach?.status ?? '-'}`,
            `dashboard     ${ctx.addr.origin}/`,
            ...i.addrs.map((a, n) => `${n === 0 ? 'addresses    ' : '             '} ${a}`),
          ].join('\n'),
        )
      },
    },
  },
}

const peers: Command = {
  summary: 'remote peers: list, connect, disconnect, forget, rename',
  default: 'ls',
  subs: {
    ls: {
      usage: 'peers [ls]',
      summary: 'list the peers (status, connection type, last sync)',
      args: [0, 0],
      async run(ctx) {
        const { peers: list } = await (await ctx.client()).call('peers.list')
        if (ctx.json) return void json(list)
        printPeers(list as never)
      },
    },
    connect: {
      usage: 'peers connect <peerId> [--addr <multiaddr>]...',
      summary: 'dial a peer (3 tries), with addresses to try if given',
      args: [1, 1],
      options: { addr: { type: 'string', multiple: true } },
      help: '  --addr <multiaddr>  an address of the peer, repeatable',
      async run(ctx) {
        const addrs = ctx.values.addr as string[] | undefined
        const r = await (await ctx.client()).call(
          'peers.connect',
          { peerId: peerIdArg(ctx), ...(addrs ? { addrs } : {}) },
          { timeoutMs: 120_000 },
        )
        if (ctx.json) json(r)
        else if (r.success) out(`connected to ${peerIdArg(ctx)} (${r.connectionType})`)
        if (!r.success) {
          if (!ctx.json) throw new CliError(`cannot connect to ${peerIdArg(ctx)}: ${r.error ?? 'unreachable'}`, EXIT.timeout)
          return EXIT.timeout
        }
      },
    },
    disconnect: {
      usage: 'peers disconnect <peerId>',
      summary: 'hang up and hold the peer (no automatic reconnect until the next connect)',
      args: [1, 1],
      async run(ctx) {
        await (await ctx.client()).call('peers.disconnect', { peerId: peerIdArg(ctx) })
        if (ctx.json) json({ peerId: peerIdArg(ctx), disconnected: true })
        else out(`disconnected from ${peerIdArg(ctx)}`)
      },
    },
    forget: {
      usage: 'peers forget <peerId>',
      summary: 'forget a peer: off the disk, disconnected, no more syncs',
      args: [1, 1],
      async run(ctx) {
        const c = await ctx.client()
        const { peers: list } = await c.call('peers.list')
        if (!list.some((p) => p.peerId === peerIdArg(ctx))) throw new CliError(`unknown peer ${peerIdArg(ctx)}`, EXIT.notFound)
        await c.call('peers.forget', { peerId: peerIdArg(ctx) })
        if (ctx.json) json({ peerId: peerIdArg(ctx), forgotten: true })
        else out(`forgot ${peerIdArg(ctx)}`)
      },
    },
    rename: {
      usage: 'peers rename <peerId> <name>',
      summary: 'give a peer a name',
      args: [2, 2],
      async run(ctx) {
        const p = await (await ctx.client()).call('peers.update', { peerId: peerIdArg(ctx), name: ctx.args[1] as string })
        if (ctx.json) json(p)
        else out(`${p.peerId} is now ${JSON.stringify(p.name)}`)
      },
    },
  },
}

const TERMINAL = new Set(['paired', 'expired', 'cancelled', 'failed'])

const pair: Command = {
  summary: 'add a device: make a ticket, show its QR code, wait until it is used',
  default: '',
  subs: {
    '': {
      usage: 'pair [--name <name>] [--ttl <seconds>]',
      summary: 'make a pairing ticket and wait (Ctrl-C cancels) until a device joins with it or it expires',
      args: [0, 0],
      timeoutMs: 0,
      options: { name: { type: 'string' }, ttl: { type: 'string' }, 'no-qr': { type: 'boolean' } },
      help: `  --name <name>      how this device introduces itself (default: the host name)
  --ttl <seconds>    how long the ticket is valid, 10 to 604800 (default: the daemon's, 600)
  --no-qr            do not draw the QR code
The other device joins with: switchboard join <ticket>
Exit: 0 paired, 11 expired or cancelled, 130 Ctrl-C (the pairing is cancelled).`,
      async run(ctx) {
        const ttl = ctx.values.ttl as string | undefined
        if (ttl !== undefined && !/^\d+$/.test(ttl))
          throw new CliError(`--ttl expects whole seconds, got ${JSON.stringify(ttl)}`, EXIT.usage)
        const c = await ctx.client()
        const states: Array<Record<string, unknown>> = []
        let wake: () => void = () => {}
        c.on('pairing.state', (s) => {
          states.push(s)
          wake()
        })
        const created = await c.call('pairing.create', {
          ...(ttl !== undefined ? { ttlSeconds: Number(ttl) } : {}),
          ...(ctx.values.name !== undefined ? { name: ctx.values.name as string } : {}),
        })
        const { qrSvg: _svg, ...ticket } = created
        if (ctx.json) jsonLine(ticket)
        else {
          if (!ctx.values['no-qr']) {
            const QR = (await import('qrcode')).default
            out(await QR.toString(created.ticket.toUpperCase(), { type: 'terminal', small: true, errorCorrectionLevel: 'M' }))
          }
          out(`ticket   ${created.ticket}`)
          out(`expires  ${new Date(created.expiresAt).toISOString()}`)
          out(`on the other device: switchboard join ${created.ticket}`)
        }
        const tty = !ctx.json && process.stdout.isTTY === true
        let interrupted = false
        const onSigint = () => {
          interrupted = true
          wake()
        }
        process.on('SIGINT', onSigint)
        process.on('SIGTERM', onSigint)
        let shown = ''
        const show = (text: string) => {
          if (text === shown) return
          shown = text
          if (tty) process.stdout.write(`\r${text}\x1b[K`)
          else out(text)
        }
        const left = () => {
          const s = Math.max(0, Math.round((created.expiresAt - Date.now()) / 1000))
          return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
        }
        let last: Record<string, unknown> | undefined
        const timer = setInterval(() => wake(), 1000)
        try {
          for (;;) {
            while (states.length > 0) {
              const s = states.shift() as Record<string, unknown>
              if (s.pairingId !== created.pairingId) continue
              last = s
              if (ctx.json) jsonLine(s)
            }
            if (last && TERMINAL.has(String(last.state))) break
            if (interrupted) break
            if (!ctx.json) {
              const who = last?.peerName ? ` with ${last.peerName}` : ''
              show(`pairing: ${String(last?.state ?? 'waiting')}${who}${tty ? ` (expires in ${left()})` : ''}`)
            }
            await Promise.race([
              new Promise<void>((r) => {
                wake = r
              }),
              ctx.lost,
            ])
          }
        } finally {
          clearInterval(timer)
          process.off('SIGINT', onSigint)
          process.off('SIGTERM', onSigint)
          if (tty) process.stdout.write('\n')
        }
        if (interrupted && !(last && TERMINAL.has(String(last.state)))) {
          await c.call('pairing.cancel', { pairingId: created.pairingId }).catch(() => {})
          throw new CliError('pairing cancelled', EXIT.interrupted)
        }
        const state = String(last?.state)
        if (state === 'paired') {
          if (!ctx.json) out(`paired with ${last?.peerName ?? '?'} ${last?.peerId ?? ''}`)
          return EXIT.ok
        }
        if (!ctx.json) throw new CliError(`pairing ${state}${last?.error ? `: ${last.error}` : ''}`, EXIT.refused)
        return EXIT.refused
      },
    },
  },
}

const join: Command = {
  summary: 'join a device with the ticket it showed',
  default: '',
  subs: {
    '': {
      usage: 'join <ticket> [--name <name>]',
      summary: 'pair with the device that made the ticket; both then know each other',
      args: [1, 1],
      timeoutMs: 120_000,
      options: { name: { type: 'string' } },
      help: `  --name <name>      how this device introduces itself (default: the host name)
Exit: 0 paired, 2 invalid ticket, 11 expired, used or refused ticket, 12 device unreachable.`,
      async run(ctx) {
        const c = await ctx.client()
        const p = await c.call('pairing.join', {
          ticket: ctx.args[0] as string,
          ...(ctx.values.name !== undefined ? { name: ctx.values.name as string } : {}),
        })
        if (ctx.json) json(p)
        else out(`paired with ${p.name || '?'} ${p.peerId} (${p.status}, ${p.connectionType})`)
      },
    },
  },
}

/** Run until Ctrl-C/SIGTERM, or until `count` items were printed. */
function untilStopped(count: number | undefined): { done: Promise<void>; tick: () => void; more: () => boolean } {
  let n = 0
  let resolve!: () => void
  const done = new Promise<void>((r) => {
    resolve = r
  })
  const stop = () => resolve()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  void done.then(() => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  })
  if (count === 0) resolve()
  return {
    done,
    /** False once `count` items were printed: print no more. */
    more: () => count === undefined || n < count,
    tick: () => {
      n++
      if (count !== undefined && n >= count) resolve()
    },
  }
}

function countOption(ctx: Ctx): number | undefined {
  const v = ctx.values.count as string | undefined
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v)) throw new CliError(`--count expects a whole number, got ${JSON.stringify(v)}`, EXIT.usage)
  return Number(v)
}

const COUNT: Options = { count: { type: 'string' } }
const COUNT_HELP = '  --count <n>        exit after n lines (default: run until Ctrl-C)'

const topics: Command = {
  summary: 'GossipSub topics: list, subscribe, publish',
  default: 'ls',
  subs: {
    ls: {
      usage: 'topics [ls]',
      summary: "list the daemon's topics and their state",
      args: [0, 0],
      async run(ctx) {
        const { actors } = await (await ctx.client()).call('actors.list', { prefix: 'topic:peer-a:' })
        const rows = actors.map((a) => ({ topic: a.systemId.slice('topic:peer-a:'.length), state: a.value, context: a.context }))
        if (ctx.json) return void json(rows)
        if (rows.length === 0) return void out('no topics')
        out(
          table(
            ['TOPIC', 'STATE'],
            rows.map((r) => [r.topic, JSON.stringify(r.state)]),
          ),
        )
      },
    },
    sub: {
      usage: 'topics sub <topic> [--count <n>]',
      summary: 'subscribe and print each message (and peers joining and leaving) as it comes',
      args: [1, 1],
      timeoutMs: 60_000,
      options: COUNT,
      help: `${COUNT_HELP}\nHuman output: <time> <peer id> <message>; --json: one push per line, {"event":"topicData"|"peerChange",...}.`,
      async run(ctx) {
        const topic = ctx.args[0] as string
        const count = countOption(ctx)
        const c = await ctx.client()
        const { done, tick, more } = untilStopped(count)
        c.on('topicData', (m) => {
          if (m.topic !== topic || !more()) return
          if (ctx.json) jsonLine({ event: 'topicData', ...m })
          else out(`${new Date().toISOString()} ${m.peerid} ${typeof m.data === 'string' ? m.data : JSON.stringify(m.data)}`)
          tick()
        })
        c.on('peerChange', (m) => {
          if (m.topic !== topic || !more()) return
          if (ctx.json) jsonLine({ event: 'peerChange', ...m })
          else process.stderr.write(`${new Date().toISOString()} ${m.peerid} ${m.joined ? 'joined' : 'left'}\n`)
        })
        await c.call('subscribe', { topic })
        // on stderr in both modes: stdout holds only messages
        process.stderr.write(`subscribed to ${topic}; Ctrl-C to stop\n`)
        await Promise.race([done, ctx.lost])
      },
    },
    pub: {
      usage: 'topics pub <topic> <message>',
      summary: 'publish a message (its text as UTF-8: JSON text arrives as that JSON value)',
      args: [2, 2],
      async run(ctx) {
        const [topic, data] = ctx.args as [string, string]
        await (await ctx.client()).call('publish', { topic, data, encoding: 'text' })
        if (ctx.json) json({ topic, published: true })
        else out(`published to ${topic}`)
      },
    },
  },
}

function looksLikeCid(s: string): boolean {
  if (s.includes('/')) return false
  try {
    CID.parse(s)
    return true
  } catch {
    return false
  }
}

/** A path in a peer's directory, as a URL path (each segment escaped). */
const urlPath = (p: string) =>
  p
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/')

async function httpError(res: Response, what: string): Promise<CliError> {
  let msg = `${res.status} ${res.statusText}`
  try {
    const body = (await res.json()) as { error?: string }
    if (body.error) msg = `${res.status}: ${body.error}`
  } catch {}
  return new CliError(`${what}: ${msg}`, exitForCode(res.status))
}

async function http(ctx: Ctx, method: string, path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(`${ctx.addr.origin}${path}`, {
      ...init,
      method,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${ctx.addr.token}` },
    })
  } catch (err) {
    const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message
    throw new CliError(`the daemon at ${ctx.addr.origin} does not answer: ${cause}`, EXIT.unreachable)
  }
}

const files: Command = {
  summary: "files: list, add, get, remove (the daemon's IPFS directory, or a peer's)",
  default: 'ls',
  subs: {
    ls: {
      usage: 'files [ls] [peerId]',
      summary: "list the daemon's directory, or a peer's",
      args: [0, 1],
      timeoutMs: 60_000,
      async run(ctx) {
        const c = await ctx.client()
        const peerid = ctx.args[0] ?? (await c.call('node.info')).peerid
        const listed = c.waitFor('peerFiles', (p) => p.peerid === peerid, { timeoutMs: 60_000 })
        listed.catch(() => {})
        await c.call('listfiles', { peerid })
        const p = await listed
        if (ctx.json) return void json(p)
        const rows = Object.entries(p.entries).sort(([a], [b]) => a.localeCompare(b))
        if (rows.length === 0) return void out(`no files (root ${p.cid})`)
        out(
          table(
            ['PATH', 'TYPE', 'MIME', 'CID'],
            rows.map(([path, e]) => [path, e.type, e.mimeType ?? '-', e.cid]),
          ),
        )
      },
    },
    add: {
      usage: 'files add <file> [path]',
      summary: 'upload a local file to the directory (default path: its name), streamed, with a progress bar',
      args: [1, 2],
      async run(ctx) {
        const [file, target] = ctx.args as [string, string | undefined]
        let size: number
        try {
          const s = await stat(file)
          if (!s.isFile()) throw new Error('not a file')
          size = s.size
        } catch (err) {
          throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.usage)
        }
        const path = urlPath(target ?? basename(file))
        if (path === '') throw new CliError('the path is empty', EXIT.usage)
        const progress = new Progress(`add ${basename(file)}`, size)
        const counting = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            progress.add(chunk.length)
            cb(null, chunk)
          },
        })
        const body = createReadStream(file).pipe(counting)
        const res = await http(ctx, 'PUT', `/files/peer-a/${path}`, {
          body: Readable.toWeb(body) as ReadableStream,
          headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' },
          duplex: 'half',
        } as RequestInit)
        progress.finish()
        if (!res.ok) throw await httpError(res, `cannot add ${file}`)
        const r = (await res.json()) as { fileCid: string; rootCid: string }
        const result = { path: decodeURIComponent(path), size, ...r }
        if (ctx.json) json(result)
        else out(`added ${result.path} (${bytes(size)}) ${r.fileCid}`)
      },
    },
    get: {
      usage: 'files get <cid|path> [out]',
      summary: 'download a file by CID or by path in the directory, streamed, with a progress bar',
      args: [1, 2],
      help: '  out                where to write (default: the name in the path, or the CID); - for stdout',
      async run(ctx) {
        const [what, outArg] = ctx.args as [string, string | undefined]
        const byCid = looksLikeCid(what)
        const url = byCid ? `/ipfs/${what}` : `/files/peer-a/${urlPath(what)}`
        const res = await http(ctx, 'GET', url)
        if (!res.ok || !res.body) throw await httpError(res, `cannot get ${what}`)
        const length = Number(res.headers.get('content-length') ?? '') || undefined
        const target = outArg ?? (byCid ? what : basename(what))
        const progress = new Progress(`get ${basename(target)}`, length)
        const counting = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            progress.add(chunk.length)
            cb(null, chunk)
          },
        })
        const sink = target === '-' ? process.stdout : createWriteStream(target)
        await pipeline(Readable.fromWeb(res.body as never), counting, sink, { end: target !== '-' })
        progress.finish()
        const result = { source: what, cid: res.headers.get('etag')?.replace(/"/g, '') ?? null, out: target, size: progress.done }
        if (target === '-') return
        if (ctx.json) json(result)
        else out(`wrote ${target} (${bytes(progress.done)})`)
      },
    },
    rm: {
      usage: 'files rm <path>',
      summary: 'remove a file or a whole directory from the directory',
      args: [1, 1],
      async run(ctx) {
        await (await ctx.client()).call('removefile', { path: ctx.args[0] as string })
        if (ctx.json) json({ path: ctx.args[0], removed: true })
        else out(`removed ${ctx.args[0]}`)
      },
    },
  },
}

const actors: Command = {
  summary: 'actors: list, or watch their states change',
  default: 'ls',
  subs: {
    ls: {
      usage: 'actors [ls] [prefix]',
      summary: 'list the actors (systemId prefix, e.g. peer:peer-a:)',
      args: [0, 1],
      async run(ctx) {
        const prefix = ctx.args[0]
        const { actors: list } = await (await ctx.client()).call('actors.list', prefix !== undefined ? { prefix } : {})
        if (ctx.json) return void json(list)
        out(
          table(
            ['SYSTEM ID', 'KIND', 'STATUS', 'STATE'],
            list.map((a) => [a.systemId, a.kind, a.status, JSON.stringify(a.value)]),
          ),
        )
      },
    },
    watch: {
      usage: 'actors watch [prefix] [--count <n>]',
      summary: 'print the actors, then each change as it happens',
      args: [0, 1],
      options: COUNT,
      help: `${COUNT_HELP}\n--json: one line per snapshot ({"event":"snapshot",...}) or stop ({"event":"stopped",...}).`,
      async run(ctx) {
        const prefix = ctx.args[0]
        const count = countOption(ctx)
        const c = await ctx.client()
        const { done, tick, more } = untilStopped(count)
        const show = (event: 'snapshot' | 'stopped', a: { systemId: string; value?: unknown; seq: number }) => {
          if (!more()) return
          if (ctx.json) jsonLine({ event, ...a })
          else out(`${new Date().toISOString()} ${a.systemId} ${event === 'stopped' ? '(stopped)' : JSON.stringify(a.value)}`)
          tick()
        }
        let sub: string | undefined
        const early: Array<['snapshot' | 'stopped', { subscription: string; systemId: string; seq: number }]> = []
        c.on('actor.snapshot', (s) => (sub === undefined ? early.push(['snapshot', s]) : s.subscription === sub && show('snapshot', s)))
        c.on('actor.stopped', (s) => (sub === undefined ? early.push(['stopped', s]) : s.subscription === sub && show('stopped', s)))
        const r = await c.call('actors.subscribe', prefix !== undefined ? { prefix } : {})
        sub = r.subscription
        process.stderr.write(`watching ${prefix ?? 'every actor'}; Ctrl-C to stop\n`)
        for (const a of r.actors) show('snapshot', a)
        for (const [e, s] of early) if (s.subscription === sub) show(e, s)
        await Promise.race([done, ctx.lost])
      },
    },
  },
}

const bans: Command = {
  summary: 'banned peers: list, ban, unban',
  default: 'ls',
  subs: {
    ls: {
      usage: 'bans [ls]',
      summary: 'list the banned peers',
      args: [0, 0],
      async run(ctx) {
        const { bans: list } = await (await ctx.client()).call('bans.list')
        if (ctx.json) return void json(list)
        if (list.length === 0) return void out('no bans')
        out(
          table(
            ['PEER ID', 'UNTIL', 'REASON'],
            list.map((b) => [String(b.peerId), b.until ? new Date(b.until as number).toISOString() : 'forever', String(b.reason ?? '')]),
          ),
        )
      },
    },
    add: {
      usage: 'bans add <peerId> [--ttl <seconds>] [--reason <text>]',
      summary: 'ban a peer (it is disconnected at once)',
      args: [1, 1],
      options: { ttl: { type: 'string' }, reason: { type: 'string' } },
      help: "  --ttl <seconds>    how long (default: the daemon's)\n  --reason <text>    why",
      async run(ctx) {
        const ttl = ctx.values.ttl as string | undefined
        if (ttl !== undefined && !/^\d+$/.test(ttl))
          throw new CliError(`--ttl expects whole seconds, got ${JSON.stringify(ttl)}`, EXIT.usage)
        const b = await (await ctx.client()).call('bans.add', {
          peerId: peerIdArg(ctx),
          ...(ttl !== undefined ? { ttlSeconds: Number(ttl) } : {}),
          ...(ctx.values.reason !== undefined ? { reason: ctx.values.reason as string } : {}),
        })
        if (ctx.json) json(b)
        else out(`banned ${b.peerId} until ${b.until ? new Date(b.until as number).toISOString() : 'forever'}`)
      },
    },
    rm: {
      usage: 'bans rm <peerId>',
      summary: 'lift a ban',
      args: [1, 1],
      async run(ctx) {
        await (await ctx.client()).call('bans.remove', { peerId: peerIdArg(ctx) })
        if (ctx.json) json({ peerId: peerIdArg(ctx), unbanned: true })
        else out(`unbanned ${peerIdArg(ctx)}`)
      },
    },
  },
}

export const COMMANDS: Record<string, Command> = { info, peers, pair, join, topics, files, actors, bans }

/** The lines the top-level help shows for the client commands. */
export function commandsHelp(): string {
  const lines: string[] = []
  for (const cmd of Object.values(COMMANDS))
    for (const sub of Object.values(cmd.subs)) lines.push(`  ${sub.usage.padEnd(50)} ${sub.summary}`)
  return lines.join('\n')
}

function commandHelp(name: string, cmd: Command, sub?: Sub): string {
  const subs = sub ? [sub] : Object.values(cmd.subs)
  const parts = [`switchboard ${name}: ${cmd.summary}`, '']
  for (const s of subs) {
    parts.push(`Usage: switchboard ${s.usage} [--json] [--data-dir <dir>]`, `  ${s.summary}`)
    if (s.help) parts.push(s.help)
    parts.push('')
  }
  parts.push(GLOBAL_HELP, '', 'Exit codes: 0 ok, 1 other failure, 2 bad argument, 8 daemon unreachable, 9 token refused,')
  parts.push('10 not found, 11 refused or gone, 12 timed out or peer unreachable, 130 interrupted.')
  return `${parts.join('\n')}\n`
}

/** The first positional of `args`, whatever options (of any subcommand) come before it. */
function firstPositional(args: string[], subs: Sub[]): string | undefined {
  const options: Options = { ...GLOBAL }
  for (const s of subs) Object.assign(options, s.options)
  return parseArgs({ args, options, strict: false, allowPositionals: true }).positionals[0]
}

/** Where a client command's name is in argv (after global options such as --data-dir), or -1. */
export function commandIndex(argv: string[], startOptions: Options): number {
  const { tokens } = parseArgs({ args: argv, options: { ...startOptions, ...GLOBAL }, strict: false, allowPositionals: true, tokens: true })
  const first = tokens.find((t) => t.kind === 'positional')
  return first && first.kind === 'positional' && first.value in COMMANDS ? first.index : -1
}

/** Run a client command; `argv` starts with the command's name. Resolves with the exit code. */
export async function runCommand(argv: string[]): Promise<number> {
  const name = argv[0] as string
  const cmd = COMMANDS[name] as Command
  const rest = argv.slice(1)
  const firstPos = firstPositional(rest, Object.values(cmd.subs))
  const subName = firstPos !== undefined && firstPos in cmd.subs && cmd.default !== '' ? firstPos : cmd.default
  const sub = cmd.subs[subName] as Sub
  const usage = (message: string) => {
    process.stderr.write(`switchboard ${name}: ${message} (see switchboard ${name} --help)\n`)
    return EXIT.usage
  }
  let values: Values
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { ...GLOBAL, ...sub.options },
    }) as { values: Values; positionals: string[] })
  } catch (err) {
    return usage((err as Error).message)
  }
  if (values.help) {
    process.stdout.write(commandHelp(name, cmd, subName === cmd.default && firstPos !== subName ? undefined : sub))
    return EXIT.ok
  }
  if (subName !== '' && positionals[0] === subName) positionals = positionals.slice(1)
  else if (cmd.default !== '' && positionals[0] !== undefined && positionals.length > sub.args[1])
    return usage(`unknown subcommand ${JSON.stringify(positionals[0])}: ${Object.keys(cmd.subs).join(', ')}`)
  const [min, max] = sub.args
  if (positionals.length < min) return usage(`missing argument: switchboard ${sub.usage}`)
  if (positionals.length > max) return usage(`unexpected argument ${JSON.stringify(positionals[max])}`)

  let client: SwitchboardClient | undefined
  let finished = false
  let loseDaemon!: (e: Error) => void
  const lost = new Promise<never>((_, reject) => {
    loseDaemon = reject
  })
  lost.catch(() => {})
  const jsonOut = values.json === true
  try {
    const dataDir = (await resolveConfig(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] as string } : {})).dataDir
    const addr = await daemonAddress(dataDir)
    const ctx: Ctx = {
      args: positionals,
      values,
      json: jsonOut,
      addr,
      client: async () => {
        if (!client) {
          client = await connectDaemon(addr, sub.timeoutMs ?? 30_000)
          client.on('state', ({ state }) => {
            if (state === 'closed' && !finished) loseDaemon(new CliError(`lost the daemon at ${addr.origin}`, EXIT.unreachable))
          })
        }
        return client
      },
      lost,
    }
    return (await sub.run(ctx)) ?? EXIT.ok
  } catch (err) {
    const e = asCliError(err)
    process.stderr.write(`switchboard ${name}${subName ? ` ${subName}` : ''}: ${e.message.split('\n')[0]}\n`)
    return e.exitCode
  } finally {
    finished = true
    client?.close()
  }
}
