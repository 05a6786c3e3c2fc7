/**
 * The kill -9 loop: a real daemon process on one data directory, killed with SIGKILL while WebSocket
 * `storefile`s, HTTP PUTs, `bans.add`s and known-peer updates (`peers.update {known: true}`) run at
 * once, then restarted; after each restart every write acknowledged before the kill must be there,
 * byte for byte. Used by test/durability/kill-loop.test.ts and by the soak script (rounds or deadline).
 */
// WebSocket and the rest the client needs on Node 20, also when a script runs this outside vitest
import '../../src/shims.ts'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { isAtomicTempName } from '../../src/p2p/atomic-file.ts'
import { LOOPBACK_DEFAULT_LISTEN } from './listen.ts'
import { newPeerId, type ProcessDaemon, startProcessDaemon } from './process-daemon.ts'

export interface KillLoopOptions {
  /** How many kill-and-restart rounds (default 20 without a deadline). */
  rounds?: number
  /** Epoch ms: no round starts after it (with `rounds`, whichever comes first). */
  deadline?: number
  /** Whether this round (0-based) runs on every default transport (TCP, WS, WebRTC-direct, bound to 127.0.0.1); else one loopback TCP listener. Default: round 0. */
  defaultListeners?: (round: number) => boolean
  /** Acknowledged writes of each kind to wait for before the kill (default 3); writes go on meanwhile, so some are in flight when it lands. */
  acksPerKindBeforeKill?: number
  /** Concurrent writers of each kind (default 2). */
  writersPerKind?: number
  /** Data directory (default: a fresh one, removed at the end). */
  dataDir?: string
  log?: (msg: string) => void
}

export interface WriteCounts {
  wsFiles: number
  httpFiles: number
  bans: number
  knownPeers: number
}

export interface KillLoopResult {
  rounds: number
  /** Rounds whose daemon listened on WebRTC-direct too (the default transports). */
  webrtcRounds: number
  /** Writes acknowledged before a kill, by kind. */
  acknowledged: WriteCounts
  /** Acknowledged writes found intact after the restart that followed (each counted once per check). */
  verified: WriteCounts
  /** Each acknowledged write missing or different after a restart; empty when nothing was lost. */
  lost: string[]
  /** writeFileAtomic temp files found anywhere in the data directory after a restart (should be 0: cleaned at start). */
  orphanTemps: number
  /** The blockstore's own temp files (`blocks/<shard>/.<block>.tmp`) found after a restart: swept by the first collection, not at start. */
  blockstoreTemps: number
  /** Time from spawn to banner, per restart. */
  restartMs: number[]
  /** Writes refused before the kill (an error answer is a failure too, not just a loss). */
  writeErrors: string[]
}

interface StoredFile {
  path: string
  cid: string
  sha256: string
  length: number
  via: 'ws' | 'http'
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/**
 * Mostly small files, now and then one of several blocks (the chunker cuts at 256 KiB); at most
 * 500 kB, so a kill often lands while one is still being written.
 */
function content(): Uint8Array<ArrayBuffer> {
  const size = Math.random() < 0.15 ? 300_000 + Math.floor(Math.random() * 200_000) : 1 + Math.floor(Math.random() * 32_768)
  return new Uint8Array(randomBytes(size))
}

/** Everything acknowledged so far, across rounds. */
class Ledger {
  readonly files = new Map<string, StoredFile>()
  readonly bans = new Map<string, number>()
  readonly known = new Map<string, string>()
  readonly acknowledged: WriteCounts = { wsFiles: 0, httpFiles: 0, bans: 0, knownPeers: 0 }
}

/** One round's writers: each loops until `stop`, recording only what the daemon acknowledged. */
async function writeUntilKilled(
  d: ProcessDaemon,
  ledger: Ledger,
  round: number,
  errors: string[],
  opts: Required<Pick<KillLoopOptions, 'acksPerKindBeforeKill' | 'writersPerKind'>>,
): Promise<{ stop(): Promise<void>; enough: Promise<void> }> {
  let stopped = false
  const perKind: WriteCounts = { wsFiles: 0, httpFiles: 0, bans: 0, knownPeers: 0 }
  let signalEnough!: () => void
  const enough = new Promise<void>((r) => (signalEnough = r))
  const acked = (kind: keyof WriteCounts) => {
    perKind[kind]++
    ledger.acknowledged[kind]++
    if (Object.values(perKind).every((n) => n >= opts.acksPerKindBeforeKill)) signalEnough()
  }
  const auth = { authorization: `Bearer ${d.token}` }
  let seq = 0
  const name = (kind: string) => `r${round}/${kind}-${seq++}-${randomBytes(3).toString('hex')}.bin`

  const loops: Array<(client: SwitchboardClient) => Promise<void>> = [
    async (client) => {
      while (!stopped) {
        const path = name('ws')
        const bytes = content()
        const r = await client.call<{ fileCid: string }>('storefile', { path, content: Buffer.from(bytes).toString('base64') })
        ledger.files.set(path, { path, cid: r.fileCid, sha256: sha256(bytes), length: bytes.length, via: 'ws' })
        acked('wsFiles')
      }
    },
    async () => {
      while (!stopped) {
        const path = name('http')
        const bytes = content()
        const res = await fetch(`${d.origin}/files/peer-a/${path}`, { method: 'PUT', headers: auth, body: bytes })
        if (res.status !== 200) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`)
        const r = (await res.json()) as { fileCid: string }
        ledger.files.set(path, { path, cid: r.fileCid, sha256: sha256(bytes), length: bytes.length, via: 'http' })
        acked('httpFiles')
      }
    },
    async (client) => {
      while (!stopped) {
        const peerId = await newPeerId()
        const ban = await client.call<{ until: number }>('bans.add', { peerId, ttlSeconds: 7 * 24 * 3600, reason: 'kill loop' })
        ledger.bans.set(peerId, ban.until)
        acked('bans')
      }
    },
    async (client) => {
      while (!stopped) {
        const peerId = await newPeerId()
        const label = `kill loop ${round}.${seq++}`
        await client.call('peers.update', { peerId, known: true, name: label, autoConnect: false })
        ledger.known.set(peerId, label)
        acked('knownPeers')
      }
    },
  ]
  const running: Promise<void>[] = []
  for (const loop of loops) {
    for (let i = 0; i < opts.writersPerKind; i++) {
      const client = await d.client()
      // a writer ends with an error once the kill lands (socket closed, connection refused): expected
      running.push(
        loop(client).catch((err: Error) => {
          if (!stopped) errors.push(`round ${round}: ${err.message}`)
        }),
      )
    }
  }
  return {
    // writers that all failed before enough acknowledgements end the round as well
    enough: Promise.race([enough, Promise.all(running).then(() => {})]),
    async stop() {
      stopped = true
      await Promise.all(running)
    },
  }
}

/**
 * Temp files anywhere under the data directory just after a restart: ours (writeFileAtomic), and
 * apart from them those of the blockstore's atomic writes (steno's `.<name>.tmp` under blocks/).
 */
async function leftoverTemps(dataDir: string): Promise<{ atomic: string[]; blockstore: string[] }> {
  const atomic: string[] = []
  const blockstore: string[] = []
  for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = relative(dataDir, join(entry.parentPath, entry.name))
    if (isAtomicTempName(entry.name)) atomic.push(path)
    else if (path.split(sep).includes('blocks') && entry.name.startsWith('.') && entry.name.endsWith('.tmp')) blockstore.push(path)
  }
  return { atomic, blockstore }
}

/** Check every acknowledged write; returns descriptions of what is missing or different. */
async function verify(d: ProcessDaemon, ledger: Ledger, verified: WriteCounts): Promise<string[]> {
  const lost: string[] = []
  const client = await d.client()
  const auth = { authorization: `Bearer ${d.token}` }
  const files = [...ledger.files.values()]
  // a few at a time: the daemon answers quickly, the check should not flood it
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(
      files.slice(i, i + 16).map(async (f) => {
        // by path, however it was stored: a lost directory entry or root must show, even while the
        // blocks it named are still in the blockstore
        const res = await fetch(`${d.origin}/files/peer-a/${f.path}`, { headers: auth })
        const got = res.status === 200 ? Buffer.from(await res.arrayBuffer()) : `GET ${res.status}`
        if (typeof got === 'string') lost.push(`${f.via} file ${f.path}: ${got}`)
        else if (got.length !== f.length || sha256(got) !== f.sha256)
          lost.push(`${f.via} file ${f.path}: ${got.length} bytes, not the ${f.length} acknowledged`)
        else verified[f.via === 'ws' ? 'wsFiles' : 'httpFiles']++
      }),
    )
  }
  const bans = new Map(
    (await client.call<{ bans: Array<{ peerId: string; until: number }> }>('bans.list')).bans.map((b) => [b.peerId, b.until]),
  )
  for (const [peerId, until] of ledger.bans) {
    if (bans.get(peerId) === until) verified.bans++
    else lost.push(`ban of ${peerId}: ${bans.has(peerId) ? `until ${bans.get(peerId)}, not ${until}` : 'missing'}`)
  }
  // known peers get their actors as peer-a starts; give that a bounded moment
  let peers = new Map<string, { known: boolean; name: string }>()
  for (let attempt = 0; attempt < 100; attempt++) {
    const list = (await client.call<{ peers: Array<{ peerId: string; known: boolean; name: string }> }>('peers.list')).peers
    peers = new Map(list.map((p) => [p.peerId, p]))
    if ([...ledger.known.keys()].every((id) => peers.has(id))) break
    await new Promise((r) => setTimeout(r, 100))
  }
  for (const [peerId, label] of ledger.known) {
    const p = peers.get(peerId)
    if (p?.known === true && p.name === label) verified.knownPeers++
    else lost.push(`known peer ${peerId}: ${p === undefined ? 'missing' : JSON.stringify(p)}`)
  }
  return lost
}

/** Run the loop; resolves with the counts (it does not throw for lost writes: read `lost`). */
export async function runKillLoop(opts: KillLoopOptions = {}): Promise<KillLoopResult> {
  const rounds = opts.rounds ?? (opts.deadline === undefined ? 20 : Number.POSITIVE_INFINITY)
  const onDefault = opts.defaultListeners ?? ((round: number) => round === 0)
  const log = opts.log ?? (() => {})
  const ownDir = opts.dataDir === undefined
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'sb-kill-')))
  const ledger = new Ledger()
  const verified: WriteCounts = { wsFiles: 0, httpFiles: 0, bans: 0, knownPeers: 0 }
  const result: KillLoopResult = {
    rounds: 0,
    webrtcRounds: 0,
    acknowledged: ledger.acknowledged,
    verified,
    lost: [],
    orphanTemps: 0,
    blockstoreTemps: 0,
    restartMs: [],
    writeErrors: [],
  }
  try {
    for (let round = 0; round < rounds && (opts.deadline === undefined || Date.now() < opts.deadline); round++) {
      const started = Date.now()
      const d = await startProcessDaemon({
        dataDir,
        ...(onDefault(round) ? { listen: LOOPBACK_DEFAULT_LISTEN } : {}),
        args: ['--log-level', 'error'],
      })
      try {
        result.restartMs.push(Date.now() - started)
        if (d.addrs.some((a) => a.includes('/webrtc-direct/'))) result.webrtcRounds++
        const temps = await leftoverTemps(dataDir)
        result.orphanTemps += temps.atomic.length
        result.blockstoreTemps += temps.blockstore.length
        if (temps.atomic.length + temps.blockstore.length > 0) log(`round ${round}: temp files after the restart: ${JSON.stringify(temps)}`)
        const lost = await verify(d, ledger, verified)
        result.lost.push(...lost.map((l) => `round ${round}: ${l}`))
        const writers = await writeUntilKilled(d, ledger, round, result.writeErrors, {
          acksPerKindBeforeKill: opts.acksPerKindBeforeKill ?? 3,
          writersPerKind: opts.writersPerKind ?? 2,
        })
        await writers.enough
        // stopped first so the writers' errors from here on count as the kill's, then the kill itself
        const stopping = writers.stop()
        d.child.kill('SIGKILL')
        await stopping
      } finally {
        if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL')
        await d.stop()
      }
      result.rounds++
      log(`kill loop round ${round}: ${JSON.stringify(ledger.acknowledged)} acknowledged, ${result.lost.length} lost`)
    }
    // the last kill is checked too
    const d = await startProcessDaemon({ dataDir, args: ['--log-level', 'error'] })
    try {
      result.lost.push(...(await verify(d, ledger, verified)).map((l) => `after the last round: ${l}`))
    } finally {
      await d.stop()
    }
    return result
  } finally {
    if (ownDir) await rm(dataDir, { recursive: true, force: true })
  }
}
