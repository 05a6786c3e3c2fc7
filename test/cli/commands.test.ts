import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT } from '../../src/cli/exit-codes.ts'
import { envWithoutSwitchboard } from '../../src/config.ts'
import {
  closeServer,
  DAEMON_ARGS,
  freePorts,
  newPeerId,
  occupyPort,
  type ProcessDaemon,
  runCli,
  startProcessDaemon,
} from '../support/process-daemon.ts'

/**
 * The client commands of the CLI (src/cli/commands.ts) against two real daemon processes: every
 * command, its --json output parsed, its exit codes; pair and join between the two daemons through
 * the CLI; a file of a few MiB added and fetched back byte for byte.
 */

const dirs: string[] = []
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-cmd-'))
  dirs.push(dir)
  return dir
}

/** A CLI process that keeps running (pair, topics sub, actors watch): its output line by line as it comes. */
function spawnCli(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [...DAEMON_ARGS, ...args], {
    env: envWithoutSwitchboard(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const waiters: Array<() => void> = []
  const poke = () => {
    for (const w of waiters.splice(0)) w()
  }
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
    poke()
  })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
    poke()
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  void exited.then(poke)
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    /** Resolves once `test` holds of the output, rejects if the process exits first. */
    async until(test: (out: string, err: string) => boolean): Promise<void> {
      for (;;) {
        if (test(stdout, stderr)) return
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the CLI exited (${child.exitCode ?? child.signalCode})\nstdout:\n${stdout}\nstderr:\n${stderr}`)
        await new Promise<void>((r) => waiters.push(r))
      }
    },
  }
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('switchboard client commands against two daemons', () => {
  let a: ProcessDaemon
  let b: ProcessDaemon
  const onA = (...args: string[]) => runCli([...args, '--data-dir', a.dataDir])
  const onB = (...args: string[]) => runCli([...args, '--data-dir', b.dataDir])

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startProcessDaemon(), startProcessDaemon()])
  }, 120_000)
  afterAll(async () => {
    await Promise.all([a?.destroy(), b?.destroy()])
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  })

  it('info: the peer, human and --json', async () => {
    const human = await onA('info')
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(new RegExp(`^peer id\\s+${a.peerId}$`, 'm'))
    expect(human.stdout).toMatch(/^alias\s+peer-a$/m)
    const j = await onA('info', '--json')
    expect(j.code).toBe(0)
    const info = JSON.parse(j.stdout) as { peerid: string; alias: string; addrs: string[] }
    expect(info.peerid).toBe(a.peerId)
    expect(info.addrs.length).toBeGreaterThan(0)
    // options may come before the command
    const before = await runCli(['--data-dir', a.dataDir, '--json', 'info'])
    expect(JSON.parse(before.stdout).peerid).toBe(a.peerId)
  })

  it('exit codes: daemon not running or not answering (8), token refused (9), one line on stderr', async () => {
    const none = await runCli(['info', '--data-dir', await freshDir()])
    expect(none.code).toBe(EXIT.unreachable)
    expect(none.stderr).toMatch(/^switchboard info: no daemon is running on [^\n]+\n$/)

    const gone = await freshDir()
    const port = await freePorts(1)
    const held = await occupyPort(port) // nothing answers HTTP there: accepted, never served... then closed
    await closeServer(held)
    await writeFile(join(gone, 'daemon.json'), JSON.stringify({ pid: 1, origin: `http://127.0.0.1:${port}` }))
    await writeFile(join(gone, 'api-token'), 'x')
    const dead = await runCli(['peers', '--data-dir', gone])
    expect(dead.code).toBe(EXIT.unreachable)
    expect(dead.stderr).toMatch(/^switchboard peers ls: the daemon on [^\n]+ does not answer at [^\n]+\n$/)

    const wrong = await freshDir()
    await writeFile(join(wrong, 'daemon.json'), await readFile(join(a.dataDir, 'daemon.json')))
    await writeFile(join(wrong, 'api-token'), randomBytes(32).toString('hex'))
    const refused = await runCli(['info', '--json', '--data-dir', wrong])
    expect(refused.code).toBe(EXIT.unauthorized)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toMatch(/^switchboard info: [^\n]*refused the token[^\n]*\n$/)
  })

  it('exit code 8 when the daemon goes away under a running command', async () => {
    const c = await startProcessDaemon()
    try {
      const watch = spawnCli(['actors', 'watch', 'node:', '--data-dir', c.dataDir])
      await watch.until((out, err) => err.includes('watching node:') && out.includes('node:peer-a'))
      await c.stop()
      expect(await watch.exited).toBe(EXIT.unreachable)
      expect(watch.stderr()).toMatch(/\nswitchboard actors watch: lost the daemon at [^\n]+\n$/)
    } finally {
      await c.destroy()
    }
  }, 60_000)

  it('exit codes: bad arguments (2) and unknown peers, paths and bans (10)', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['peers', 'bogus'], EXIT.usage, /unknown subcommand "bogus"/],
      [['peers', 'rename', 'x'], EXIT.usage, /missing argument/],
      [['info', 'extra'], EXIT.usage, /unexpected argument "extra"/],
      [['info', '--frob'], EXIT.usage, /--frob/],
      [['peers', 'connect', 'nope'], EXIT.usage, /400: peerId: "nope" is not a valid peer id/],
      [['join', 'sbp1aaaa'], EXIT.usage, /400: ticket:/],
      [['pair', '--ttl', 'soon'], EXIT.usage, /--ttl expects whole seconds/],
      [['peers', 'rename', await newPeerId(), 'x'], EXIT.notFound, /404: unknown peer/],
      [['peers', 'forget', await newPeerId()], EXIT.notFound, /unknown peer/],
      [['bans', 'rm', await newPeerId()], EXIT.notFound, /is not banned/],
      [['files', 'get', 'no/such/file', join(await freshDir(), 'out')], EXIT.notFound, /404/],
      [['files', 'rm', 'no/such/file'], EXIT.notFound, /404/],
      [['files', 'add', join(await freshDir(), 'missing')], EXIT.usage, /cannot read/],
    ]
    for (const [args, code, message] of cases) {
      const r = await onA(...args)
      expect({ args, code: r.code }).toEqual({ args, code })
      expect(r.stderr).toMatch(message)
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1)
    }
  })

  it('--help per command, exit 0, no daemon needed', async () => {
    for (const cmd of ['info', 'peers', 'pair', 'join', 'topics', 'files', 'actors', 'bans']) {
      const r = await runCli([cmd, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`Usage: switchboard ${cmd}`)
      expect(r.stdout).toContain('Exit codes:')
    }
    const sub = await runCli(['files', 'add', '--help'])
    expect(sub.stdout).toContain('Usage: switchboard files add <file> [path]')
    expect(sub.stdout).not.toContain('files rm')
  })

  it('pair on A and join on B through the CLI; then peers ls, rename, disconnect, connect', async () => {
    const pair = spawnCli(['pair', '--json', '--name', 'alpha', '--data-dir', a.dataDir])
    await pair.until((out) => out.includes('\n'))
    const created = jsonLines(pair.stdout())[0] as { ticket: string; pairingId: string; expiresAt: number }
    expect(created.ticket).toMatch(/^sbp1[a-z2-7]+$/)
    expect(created).not.toHaveProperty('qrSvg')

    const join = await onB('join', created.ticket, '--name', 'beta', '--json')
    expect(join.code).toBe(0)
    const joined = JSON.parse(join.stdout) as { peerId: string; name: string; known: boolean }
    expect(joined).toMatchObject({ peerId: a.peerId, name: 'alpha', known: true })

    expect(await pair.exited).toBe(0)
    const states = jsonLines(pair.stdout()).slice(1)
    expect(states.every((s) => s.pairingId === created.pairingId)).toBe(true)
    expect(states.at(-1)).toMatchObject({ state: 'paired', role: 'initiator', peerId: b.peerId, peerName: 'beta' })

    // a spent ticket is refused: 11
    const again = await onB('join', created.ticket)
    expect(again.code).toBe(EXIT.refused)
    expect(again.stderr).toMatch(/^switchboard join: 410/)

    const ls = await onA('peers', 'ls', '--json')
    expect(ls.code).toBe(0)
    const peers = JSON.parse(ls.stdout) as Array<{ peerId: string; name: string; known: boolean; status: string }>
    expect(peers.find((p) => p.peerId === b.peerId)).toMatchObject({ name: 'beta', known: true })
    const human = await onA('peers')
    expect(human.stdout).toMatch(/^PEER ID\s+NAME\s+STATUS\s+CONNECTION\s+KNOWN\s+LAST SYNC/m)
    expect(human.stdout).toMatch(new RegExp(`^${b.peerId}\\s+beta\\s+\\w+\\s+\\w+\\s+yes`, 'm'))

    const renamed = await onA('peers', 'rename', b.peerId, 'laptop', '--json')
    expect(renamed.code).toBe(0)
    expect(JSON.parse(renamed.stdout)).toMatchObject({ peerId: b.peerId, name: 'laptop' })

    const off = await onA('peers', 'disconnect', b.peerId, '--json')
    expect(off.code).toBe(0)
    expect(JSON.parse(off.stdout)).toEqual({ peerId: b.peerId, disconnected: true })

    const on = await onA('peers', 'connect', b.peerId, '--addr', b.addrs[0] as string, '--json')
    expect(on.code).toBe(0)
    expect(JSON.parse(on.stdout)).toMatchObject({ success: true, connectionType: 'direct' })
    const human2 = await onA('peers', 'connect', b.peerId)
    expect(human2.stdout).toBe(`connected to ${b.peerId} (direct)\n`)
  }, 120_000)

  it('pair in a terminal-less run draws the QR code and the ticket; Ctrl-C cancels it (130)', async () => {
    const pair = spawnCli(['pair', '--ttl', '60', '--data-dir', a.dataDir])
    await pair.until((out) => /^pairing: waiting$/m.test(out))
    const out = pair.stdout()
    expect(out).toContain('▄') // the QR code, drawn with half blocks
    const ticket = /^ticket\s+(sbp1[a-z2-7]+)$/m.exec(out)?.[1]
    expect(ticket).toBeDefined()
    pair.child.kill('SIGINT')
    expect(await pair.exited).toBe(EXIT.interrupted)
    expect(pair.stderr()).toBe('switchboard pair: pairing cancelled\n')
    // the pairing is gone on A: B's join is refused
    const join = await onB('join', ticket as string)
    expect(join.code).toBe(EXIT.refused)
  }, 60_000)

  it('files add and get: a 4 MiB file round trip, by path and by CID (from the other daemon), ls and rm', async () => {
    const dir = await freshDir()
    const src = join(dir, 'blob.bin')
    const content = randomBytes(4 * 1024 * 1024 + 123)
    await writeFile(src, content)

    const add = await onA('files', 'add', src, 'docs/blob.bin', '--json')
    expect(add.code).toBe(0)
    const added = JSON.parse(add.stdout) as { path: string; size: number; fileCid: string; rootCid: string }
    expect(added).toMatchObject({ path: 'docs/blob.bin', size: content.length })

    const byPath = join(dir, 'by-path.bin')
    const get = await onA('files', 'get', 'docs/blob.bin', byPath, '--json')
    expect(get.code).toBe(0)
    expect(JSON.parse(get.stdout)).toMatchObject({ source: 'docs/blob.bin', out: byPath, size: content.length })
    expect((await readFile(byPath)).equals(content)).toBe(true)

    const byCid = join(dir, 'by-cid.bin')
    const fromB = await onB('files', 'get', added.fileCid, byCid)
    expect(fromB.code).toBe(0)
    expect(fromB.stdout).toMatch(/^wrote .+by-cid\.bin \(4\.0 MiB\)\n$/)
    expect((await readFile(byCid)).equals(content)).toBe(true)

    const ls = await onA('files', 'ls', '--json')
    expect(ls.code).toBe(0)
    const listing = JSON.parse(ls.stdout) as { peerid: string; entries: Record<string, { type: string; cid: string }> }
    expect(listing.peerid).toBe(a.peerId)
    expect(listing.entries['docs/blob.bin']).toMatchObject({ type: 'file', cid: added.fileCid })
    // B lists A's directory over the network
    const remote = await onB('files', 'ls', a.peerId, '--json')
    expect(remote.code).toBe(0)
    expect((JSON.parse(remote.stdout) as typeof listing).entries['docs/blob.bin']?.cid).toBe(added.fileCid)
    const human = await onA('files')
    expect(human.stdout).toMatch(new RegExp(`^docs/blob\\.bin\\s+file\\s+\\S+\\s+${added.fileCid}$`, 'm'))

    const rmr = await onA('files', 'rm', 'docs/blob.bin', '--json')
    expect(rmr.code).toBe(0)
    expect(JSON.parse(rmr.stdout)).toEqual({ path: 'docs/blob.bin', removed: true })
    expect((await onA('files', 'get', 'docs/blob.bin', join(dir, 'gone.bin'))).code).toBe(EXIT.notFound)
  }, 120_000)

  it('topics sub on A gets what topics pub sends from B, as JSON lines; topics ls', async () => {
    const sub = spawnCli(['topics', 'sub', 'cli-chat', '--json', '--count', '1', '--data-dir', a.dataDir])
    await sub.until((_out, err) => err.includes('subscribed to cli-chat'))
    const ls = await onA('topics', '--json')
    expect((JSON.parse(ls.stdout) as Array<{ topic: string }>).map((t) => t.topic)).toContain('cli-chat')
    // B subscribes too; once A has seen B join the topic, B has A's subscription (sent before, on the same stream)
    const onBSub = spawnCli(['topics', 'sub', 'cli-chat', '--data-dir', b.dataDir])
    await sub.until((out) => jsonLines(out).some((l) => l.event === 'peerChange' && l.peerid === b.peerId && l.joined === true))
    const pub = await onB('topics', 'pub', 'cli-chat', 'hello from B', '--json')
    expect(pub.code).toBe(0)
    expect(JSON.parse(pub.stdout)).toEqual({ topic: 'cli-chat', published: true })
    expect(await sub.exited).toBe(0)
    onBSub.child.kill('SIGINT')
    expect(await onBSub.exited).toBe(0)
    expect(await sub.exited).toBe(0)
    const msg = jsonLines(sub.stdout()).find((l) => l.event === 'topicData')
    expect(msg).toEqual({ event: 'topicData', topic: 'cli-chat', peerid: b.peerId, data: 'hello from B', encoding: 'text' })
  }, 60_000)

  it('actors ls and actors watch (--json lines)', async () => {
    const ls = await onA('actors', 'ls', 'node:', '--json')
    expect(ls.code).toBe(0)
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ systemId: 'node:peer-a', kind: 'node', value: 'running' })])
    const human = await onA('actors')
    expect(human.stdout).toMatch(/^node:peer-a\s+node\s+active\s+"running"$/m)

    const watch = await onA('actors', 'watch', 'node:', '--json', '--count', '1')
    expect(watch.code).toBe(0)
    expect(jsonLines(watch.stdout)).toEqual([expect.objectContaining({ event: 'snapshot', systemId: 'node:peer-a', value: 'running' })])
    // changes are printed as they happen: a topic actor appears (and goes) while it watches
    const w = spawnCli(['actors', 'watch', 'topic:peer-a:cli-watch', '--json', '--count', '1', '--data-dir', a.dataDir])
    await w.until((_out, err) => err.includes('watching topic:peer-a:cli-watch'))
    expect(w.stdout()).toBe('')
    const sub = await onA('topics', 'sub', 'cli-watch', '--count', '0')
    expect(sub.code).toBe(0)
    expect(await w.exited).toBe(0)
    expect(jsonLines(w.stdout())).toEqual([expect.objectContaining({ event: 'snapshot', systemId: 'topic:peer-a:cli-watch' })])
  })

  it('bans add, ls, rm', async () => {
    const peer = await newPeerId()
    const add = await onA('bans', 'add', peer, '--ttl', '120', '--reason', 'cli test', '--json')
    expect(add.code).toBe(0)
    const ban = JSON.parse(add.stdout) as { peerId: string; until: number; reason: string }
    expect(ban).toMatchObject({ peerId: peer, reason: 'cli test' })
    expect(ban.until).toBeGreaterThan(Date.now() + 100_000)
    const ls = await onA('bans', '--json')
    expect((JSON.parse(ls.stdout) as Array<{ peerId: string }>).map((x) => x.peerId)).toContain(peer)
    const human = await onA('bans')
    expect(human.stdout).toMatch(new RegExp(`^${peer}\\s+\\S+Z\\s+cli test$`, 'm'))
    const rmr = await onA('bans', 'rm', peer, '--json')
    expect(rmr.code).toBe(0)
    expect(JSON.parse(rmr.stdout)).toEqual({ peerId: peer, unbanned: true })
    expect((await onA('bans', 'rm', peer)).code).toBe(EXIT.notFound)
  })

  it('peers forget (last: it unpairs the two)', async () => {
    const r = await onA('peers', 'forget', b.peerId, '--json')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ peerId: b.peerId, forgotten: true })
    const ls = await onA('peers', '--json')
    expect((JSON.parse(ls.stdout) as Array<{ peerId: string; known: boolean }>).some((p) => p.peerId === b.peerId && p.known)).toBe(false)
  })
})
