import { access, readFile } from 'node:fs/promises'
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { writeFileAtomic } from '../src/p2p/atomic-file.ts'

/** Shared helpers for benchmarks: where they ran, how figures are summarised, printed and kept. */

export const RESULTS_FILE = fileURLToPath(new URL('./results.md', import.meta.url))

const RESULTS_HEADER = `# Benchmark results

Run every benchmark with \`npm run bench\`, or some of them by name: \`npm run bench -- ws-rpc\`.
Each one also runs alone: \`node --import tsx bench/ws-rpc.ts\`.
A run prints its figures as markdown and appends a dated section below, with the machine it ran on.
Everything runs on loopback (127.0.0.1). Compare figures only within one section: they depend on the machine
and on what else it was doing (the load column); ratios against the raw baselines travel better than absolutes.
`

export interface MachineInfo {
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  os: string
  /** 1-minute load average as the run started: other work on the box skews figures. */
  load: number
  /** ISO timestamp of the run. */
  date: string
}

export function machineInfo(): MachineInfo {
  const list = cpus()
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
    load: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
  }
}

type Cell = string | number

/** A GitHub markdown table; numeric columns are right-aligned. */
export function markdownTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => row.map(String))
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || /^[\d.,x×-]+$/.test(String(row[i] ?? ''))),
  )
  const widths = headers.map((h, i) => Math.max(h.length, 3, ...text.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ')} |`
  const rule = `| ${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`
  return [line(headers), rule, ...text.map(line)].join('\n')
}

export function machineTable(info: MachineInfo = machineInfo()): string {
  return markdownTable(
    ['CPU', 'Cores', 'Memory', 'Node', 'OS', 'Load (1 min)'],
    [[info.cpu, info.cores, `${info.memoryGiB} GiB`, info.node, info.os, info.load]],
  )
}

/** The section a run prints and appends: a dated heading, the machine, then the bench's own body. */
export function resultSection(title: string, body: string, info: MachineInfo = machineInfo()): string {
  const when = `${info.date.slice(0, 10)} ${info.date.slice(11, 16)} UTC`
  return `## ${when}: ${title}\n\n${machineTable(info)}\n\n${body.trim()}\n`
}

/** Append a section to bench/results.md (created with its header when missing); the file is rewritten atomically. */
export async function appendResults(section: string, file: string = RESULTS_FILE): Promise<void> {
  const exists = await access(file).then(
    () => true,
    () => false,
  )
  const before = exists ? await readFile(file, 'utf8') : RESULTS_HEADER
  await writeFileAtomic(file, `${before.trimEnd()}\n\n${section.trim()}\n`, 0o644)
}

/** Print a bench's section and keep it in results.md (not with BENCH_NO_PUBLISH=1: a dry run only prints). */
export async function publish(title: string, body: string): Promise<void> {
  const section = resultSection(title, body)
  process.stdout.write(`\n${section}\n`)
  if (process.env.BENCH_NO_PUBLISH === '1') return
  await appendResults(section)
  process.stdout.write(`(appended to ${RESULTS_FILE})\n`)
}

/**
 * A full garbage collection, for heap figures: uses `gc` when node runs with --expose-gc, else turns
 * the flag on at run time (works on V8 as shipped with Node 20; best effort elsewhere). False when neither works.
 */
export function forceGc(): boolean {
  let gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc')
    gc = vm.runInNewContext('gc') as (() => void) | undefined
  }
  if (gc === undefined) return false
  // twice: the first pass may only queue finalizers that free more
  gc()
  gc()
  return true
}

/** Nearest-rank percentile, p in [0, 100]. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN
}

export function median(values: ArrayLike<number>): number {
  return percentile(values, 50)
}

/** A figure with a sensible number of digits for a table. */
export function fmt(n: number, digits = n >= 100 ? 0 : n >= 10 ? 1 : 2): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a'
}

/** True when `moduleUrl` (import.meta.url) is the script node was asked to run. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1]
  return script !== undefined && resolve(script) === fileURLToPath(moduleUrl)
}

/** Run a bench module's `run()` when the module is the script itself, then exit: libp2p leaves timers behind. */
export function runIfMain(moduleUrl: string, run: () => Promise<unknown>): void {
  if (!isMain(moduleUrl)) return
  run().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
      process.exit(1)
    },
  )
}
