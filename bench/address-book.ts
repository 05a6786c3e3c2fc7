/**
 * Address book benchmark: fill 100,000 entries over many network groups, then measure memory,
 * best(8), adds at capacity (eviction), save and load.
 *
 *   node --import tsx bench/address-book.ts [--entries N] [--out results.json]
 *
 * `run()` returns the figures (for bench/run.ts or anything else); printing happens only when this
 * file is the entry point.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import {
  ADDRESS_BOOK_FORMAT,
  ADDRESS_BOOK_JSON_VERSION,
  ADDRESS_BOOK_VERSION,
  AddressBook,
  type AddressEntry,
} from '../src/p2p/address-book.ts'
import { saveVersioned } from '../src/p2p/json-file.ts'
import { seeded } from '../test/support/synthetic-peers.ts'
import { spawnBenchChild } from './support/bench-child.ts'

export interface AddressBookBenchOptions {
  entries?: number
  /** Entries per network group (default 50; the default group limit is 64). */
  perGroup?: number
  bestCalls?: number
  evictionAdds?: number
}

export interface AddressBookBenchResult {
  machine: { cpu: string; cores: number; node: string; platform: string; date: string }
  entries: number
  groups: number
  heapUsedMB: number
  heapPerEntryBytes: number
  fillMs: number
  addMicros: number
  best8MedianMicros: number
  best8P99Micros: number
  /**
   * `bestCalls` calls on the loaded book, after its first: what a restarted daemon's dials see. V8 has compiled
   * best(8) by then, but may recompile parts for the loaded entries during these calls (run to run: 9.6-17.6 µs).
   */
  best8NextMedianMicros: number
  bestCalls: number
  addAtCapacityMedianMicros: number
  /** Includes the periodic full scan that refills the eviction cache. */
  addAtCapacityMeanMicros: number
  saveMs: number
  loadMs: number
  /** CPU time of the load (user + system, all threads): less sensitive to other work on the machine than loadMs. */
  loadCpuMs: number
  /**
   * The same file loaded in a fresh process (bench/support/load-address-book.ts), as a daemon's start loads
   * it: code not yet compiled, no memory touched before. Each of FRESH_LOADS runs, fastest first.
   */
  freshLoadMs: number[]
  /** CPU of the median fresh load. */
  freshLoadCpuMs: number
  /** What the loaded book holds in memory, per entry: V8 heap plus typed arrays and buffers (the median fresh load's). */
  loadedBytesPerEntry: number
  /**
   * The first per-peer query after the load (forPeer): it builds the by-peer index the load leaves out
   * (a hash of each loaded peer id, read in the file's bytes), so this is load work done later, not saved.
   */
  firstForPeerMs: number
  /**
   * The first best(8) after the load: it makes the draw records (one per entry, beside its group) the
   * load leaves out, so this too is load work done later.
   */
  firstBestMs: number
  fileSizeMB: number
  /** The same entries in the JSON file of version 1 (what the book wrote before): its size and its load, for the ratio. */
  jsonFileSizeMB: number
  jsonLoadMs: number
  /** The machine's floor for a load that makes an object per entry: see floorLoadMs(). */
  floorLoadMs: number
  /** First touch of new memory (64 MiB, allocated then written), and a second write over the same memory. */
  newMemoryMsPerMiB: number
  touchedMemoryMsPerMiB: number
}

/** Fresh-process loads per run (their median is the figure). */
const FRESH_LOADS = 3

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/**
 * Peer ids with a real one's entropy (an Ed25519 key is 32 random bytes: `12D3KooW` and 44 nearly
 * uniform base58 digits), so the file size is what a daemon's would be: syntheticPeerId's are
 * distinct but far more compressible.
 */
function realisticPeerIds(n: number, rnd: () => number): string[] {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const digits = ['12D3KooW']
    for (let k = 0; k < 44; k++) digits.push(B58[Math.floor(rnd() * 58)] as string)
    ids.push(digits.join('')) // flat, as a peer id decoded from the wire is (a += chain would be a rope)
  }
  return ids
}

/** Entry i of group g: IPv4 /16s 11.0-99.255 for 90% of groups, IPv6 /32s under 2a01:: for the rest. */
function address(g: number, i: number, groups: number): string {
  const v6From = Math.floor(groups * 0.9)
  if (g < v6From) {
    const a = 11 + Math.floor(g / 256)
    return `/ip4/${a}.${g % 256}.${Math.floor(i / 250)}.${(i % 250) + 1}/tcp/4001`
  }
  return `/ip6/2a01:${(g - v6From + 0x100).toString(16)}::${(i + 1).toString(16)}/udp/4001/quic-v1`
}

function gcFn(): () => void {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as (() => void) | undefined
  return () => {
    gc?.()
    gc?.()
  }
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN
}
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d

/**
 * The floor under any load that makes an object per entry (as the book's did until session 28; it now
 * keeps columns, see src/p2p/address-book/columns.ts): the same keys, already in memory (one latin1
 * buffer, as an inflated file would be), made into one string, each sliced out and set into a Map to a
 * plain object with the book entry's 15 fields (two of them times). Nothing read, checked or decoded,
 * no groups, no draw records.
 */
function floorLoadMs(keys: readonly string[], gc: () => void): number {
  class Plain {
    pid = null
    lastAttempt = undefined
    lastSuccess = undefined
    attempts = 0
    successes = 0
    failures = 0
    consecutiveFailures = 0
    failureTimes = []
    gi = -1
    constructor(
      readonly multiaddr: string,
      readonly source: string,
      readonly group: null,
      readonly scope: string,
      readonly firstSeen: number,
      readonly lastSeen: number,
    ) {}
  }
  const bytes = Buffer.from(keys.join(''), 'latin1')
  const lengths = keys.map((k) => k.length)
  const base = Date.UTC(2025, 0, 1)
  gc()
  const t = performance.now()
  const text = bytes.toString('latin1')
  const map = new Map<string, Plain>()
  let at = 0
  for (let i = 0; i < lengths.length; i++) {
    const key = text.slice(at, at + (lengths[i] as number))
    at += lengths[i] as number
    map.set(key, new Plain(key, 'dht', null, 'public', base + i, base + 2 * i))
  }
  const ms = performance.now() - t
  if (map.size !== keys.length) throw new Error(`floor: ${map.size} of ${keys.length} keys`)
  return ms
}

/** ms per MiB to write 64 MiB of memory just allocated, and then to write it again. */
function memoryWriteMsPerMiB(): { fresh: number; touched: number } {
  const mib = 64
  const t0 = performance.now()
  const b = Buffer.allocUnsafeSlow(mib * 1048576)
  b.fill(1)
  const t1 = performance.now()
  b.fill(2)
  const t2 = performance.now()
  return { fresh: (t1 - t0) / mib, touched: (t2 - t1) / mib }
}

export async function run(options: AddressBookBenchOptions = {}): Promise<AddressBookBenchResult> {
  const entries = options.entries ?? 100_000
  const perGroup = options.perGroup ?? 50
  const bestCalls = options.bestCalls ?? 1000
  const evictionAdds = options.evictionAdds ?? 1000
  const groups = Math.ceil(entries / perGroup)
  const gc = gcFn()
  const rnd = seeded(1)
  const ids = realisticPeerIds(entries, seeded(2))
  const peerId = (i: number) => ids[i] as string
  let clock = Date.UTC(2025, 0, 1)
  const now = () => clock
  const dir = await mkdtemp(join(os.tmpdir(), 'switchboard-bench-ab-'))
  const path = join(dir, 'addressbook.json')
  try {
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const book = new AddressBook({ capacity: entries, now, random: Math.random, path, log: () => {} })
    const t0 = performance.now()
    let n = 0
    for (let g = 0; g < groups && n < entries; g++) {
      for (let i = 0; i < perGroup && n < entries; i++, n++) {
        const ma = address(g, i, groups)
        const r = book.add(ma, { peerId: peerId(n), source: n % 3 === 0 ? 'identify' : 'dht' })
        if (!r.added) throw new Error(`bench fill refused ${ma}: ${r.reason}`)
        const u = rnd()
        if (u < 0.3) {
          book.markAttempt(ma, peerId(n))
          if (u < 0.15) book.markSuccess(ma, peerId(n))
          else book.markFailure(ma, peerId(n))
        }
      }
      clock += 10
    }
    const fillMs = performance.now() - t0
    gc()
    const heapUsed = process.memoryUsage().heapUsed - heapBefore
    clock += 15 * 60_000

    // best(8): the chosen addresses are "dialled", as a connector would
    const times: number[] = []
    for (let i = 0; i < bestCalls; i++) {
      const s = performance.now()
      const picked = book.best(8)
      times.push(performance.now() - s)
      if (picked.length !== 8) throw new Error(`best(8) returned ${picked.length}`)
      for (const e of picked) book.markAttempt(e.multiaddr)
      clock += 1000
    }

    const s1 = performance.now()
    await book.save()
    const saveMs = performance.now() - s1
    const size = (await stat(path)).size

    // before the load, as cold as it: measured after it (the heap grown, its pages warm) it took half as long
    const floor = floorLoadMs(
      book.list().map((w) => w.multiaddr),
      gc,
    )
    gc()
    const s2 = performance.now()
    const cpu2 = process.cpuUsage()
    const loaded = await AddressBook.load(path, { capacity: entries, now, log: () => {} })
    const loadCpu = process.cpuUsage(cpu2)
    const loadMs = performance.now() - s2
    const loadCpuMs = (loadCpu.user + loadCpu.system) / 1000
    if (loaded.size !== book.size) throw new Error(`load gave ${loaded.size} of ${book.size}`)
    const s5 = performance.now()
    const firstBest = loaded.best(8)
    const firstBestMs = performance.now() - s5
    if (firstBest.length !== 8) throw new Error(`best(8) after load gave ${firstBest.length} entries`)
    const s4 = performance.now()
    const ofPeer = loaded.forPeer(peerId(0))
    const firstForPeerMs = performance.now() - s4
    if (ofPeer.length !== 1) throw new Error(`forPeer after load gave ${ofPeer.length} entries`)
    // the same load as a daemon's start sees it: a fresh process, its code cold and no memory touched before
    const fresh: Array<{ ms: number; cpuMs: number; size: number; bytesPerEntry: number }> = []
    for (let i = 0; i < FRESH_LOADS; i++) {
      const child = spawnBenchChild(
        ['--import', 'tsx', fileURLToPath(new URL('./support/load-address-book.ts', import.meta.url)), path, String(entries)],
        {
          what: 'the address book load in a fresh process',
        },
      )
      const line = await child.line('loaded ')
      await child.stop()
      const r = JSON.parse(line.slice('loaded '.length)) as (typeof fresh)[number]
      if (r.size !== book.size) throw new Error(`the fresh process loaded ${r.size} of ${book.size}`)
      fresh.push(r)
    }
    fresh.sort((a, b) => a.ms - b.ms)
    const freshMedian = fresh[Math.floor(fresh.length / 2)] as (typeof fresh)[number]

    // best(8) on the loaded book, as a restarted daemon dials (the eviction figures below use the other book)
    const nextTimes: number[] = []
    const clockBefore = clock
    for (let i = 0; i < bestCalls; i++) {
      const s = performance.now()
      const picked = loaded.best(8)
      nextTimes.push(performance.now() - s)
      for (const e of picked) loaded.markAttempt(e.multiaddr)
      clock += 1000
    }
    clock = clockBefore // the figures below as before this loop was added

    // the baseline: the same book as the JSON file of version 1, loaded (and migrated) as a daemon's first start does
    const jsonPath = join(dir, 'addressbook.json')
    const records = book.list().map((w) => {
      const { group: _g, quality: _q, ...record } = book.get(w.multiaddr, w.peerId) as AddressEntry
      return record
    })
    await saveVersioned(jsonPath, ADDRESS_BOOK_FORMAT, ADDRESS_BOOK_JSON_VERSION, { savedAt: now(), entries: records })
    const jsonSize = (await stat(jsonPath)).size
    gc()
    const s3 = performance.now()
    const migrated = await AddressBook.load(join(dir, 'migrated.bin'), { capacity: entries, now, log: () => {}, migrateFrom: jsonPath })
    const json = { size: jsonSize, loadMs: performance.now() - s3 }
    if (migrated.size !== book.size) throw new Error(`migration gave ${migrated.size} of ${book.size}`)

    const memory = memoryWriteMsPerMiB()

    const groupCount = book.groupCount
    // adds into a full book: each needs an eviction
    const addTimes: number[] = []
    for (let i = 0; i < evictionAdds; i++) {
      const ma = `/ip4/${100 + Math.floor(i / 250)}.${(i % 250) + 1}.0.1/tcp/4001`
      const s = performance.now()
      book.add(ma, { source: 'dht' })
      addTimes.push(performance.now() - s)
      clock += 100
    }
    if (book.size > entries) throw new Error('capacity exceeded')

    const cpu = os.cpus()[0]?.model ?? 'unknown'
    return {
      machine: {
        cpu,
        cores: os.cpus().length,
        node: process.version,
        platform: `${os.platform()} ${os.arch()}`,
        date: new Date().toISOString(),
      },
      entries: loaded.size,
      groups: groupCount,
      heapUsedMB: round(heapUsed / 1048576, 1),
      heapPerEntryBytes: Math.round(heapUsed / entries),
      fillMs: round(fillMs, 0),
      addMicros: round((fillMs * 1000) / entries, 2),
      best8MedianMicros: round(quantile(times, 0.5) * 1000, 1),
      best8P99Micros: round(quantile(times, 0.99) * 1000, 1),
      best8NextMedianMicros: round(quantile(nextTimes, 0.5) * 1000, 1),
      bestCalls,
      addAtCapacityMedianMicros: round(quantile(addTimes, 0.5) * 1000, 1),
      addAtCapacityMeanMicros: round((addTimes.reduce((a, b) => a + b, 0) / addTimes.length) * 1000, 1),
      saveMs: round(saveMs, 0),
      loadMs: round(loadMs, 0),
      loadCpuMs: round(loadCpuMs, 0),
      freshLoadMs: fresh.map((r) => round(r.ms, 0)),
      freshLoadCpuMs: round(freshMedian.cpuMs, 0),
      loadedBytesPerEntry: Math.round(freshMedian.bytesPerEntry),
      firstForPeerMs: round(firstForPeerMs, 0),
      firstBestMs: round(firstBestMs, 1),
      fileSizeMB: round(size / 1048576, 2),
      jsonFileSizeMB: round(json.size / 1048576, 2),
      jsonLoadMs: round(json.loadMs, 0),
      floorLoadMs: round(floor, 0),
      newMemoryMsPerMiB: round(memory.fresh, 2),
      touchedMemoryMsPerMiB: round(memory.touched, 2),
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export function toMarkdown(r: AddressBookBenchResult): string {
  const rows: Array<[string, string]> = [
    ['entries / groups', `${r.entries} / ${r.groups}`],
    ['heap used', `${r.heapUsedMB} MB (${r.heapPerEntryBytes} B/entry)`],
    ['fill (add + marks)', `${r.fillMs} ms (${r.addMicros} µs/entry)`],
    [`best(8), median of ${r.bestCalls}`, `${r.best8MedianMicros} µs (p99 ${r.best8P99Micros} µs)`],
    [`best(8), median of ${r.bestCalls} on the loaded book (after its first)`, `${r.best8NextMedianMicros} µs`],
    ['add at capacity (eviction)', `median ${r.addAtCapacityMedianMicros} µs, mean ${r.addAtCapacityMeanMicros} µs`],
    ['save', `${r.saveMs} ms`],
    [`load (binary, version ${ADDRESS_BOOK_VERSION})`, `${r.loadMs} ms (CPU ${r.loadCpuMs} ms)`],
    [
      `load in a fresh process, as a daemon's start (${r.freshLoadMs.length} runs)`,
      `${r.freshLoadMs.join(' / ')} ms (median's CPU ${r.freshLoadCpuMs} ms); the loaded book holds ${r.loadedBytesPerEntry} B/entry`,
    ],
    [
      'floor of a load that makes objects: the same keys from one string in memory into a Map of plain 15-field objects (no file, no decode)',
      `${r.floorLoadMs} ms (load / floor ${(r.loadMs / r.floorLoadMs).toFixed(2)}×)`,
    ],
    [
      'writing 64 MiB just allocated / the same memory again (page faults)',
      `${r.newMemoryMsPerMiB} / ${r.touchedMemoryMsPerMiB} ms per MiB`,
    ],
    ['first forPeer after the load (builds the by-peer index)', `${r.firstForPeerMs} ms`],
    ['first best(8) after the load (makes the draw records)', `${r.firstBestMs} ms`],
    [
      `file size (binary, version ${ADDRESS_BOOK_VERSION})`,
      `${r.fileSizeMB} MB (${Math.round((r.fileSizeMB * 1048576) / r.entries)} B/entry)`,
    ],
    ['JSON file of version 1: load + migrate / size', `${r.jsonLoadMs} ms / ${r.jsonFileSizeMB} MB`],
    ['binary / JSON: load time, size', `${(r.loadMs / r.jsonLoadMs).toFixed(3)}×, ${(r.fileSizeMB / r.jsonFileSizeMB).toFixed(3)}×`],
    ['machine', `${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.platform}, Node ${r.machine.node}, ${r.machine.date}`],
  ]
  return ['| measure | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (invokedDirectly) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name)
    return i >= 0 ? process.argv[i + 1] : undefined
  }
  const entries = arg('--entries')
  const result = await run(entries === undefined ? {} : { entries: Number(entries) })
  console.log(
    `machine: ${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.platform}, Node ${result.machine.node}, ${result.machine.date}`,
  )
  console.log(JSON.stringify(result, null, 2))
  console.log()
  console.log(toMarkdown(result))
  const out = arg('--out')
  if (out !== undefined) await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)
}
