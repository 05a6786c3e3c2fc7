/** Output helpers of the CLI: aligned tables, JSON, a progress bar on a terminal. */

export const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
export const json = (value: unknown) => out(JSON.stringify(value, null, 2))
/** One JSON document per line (`watch`, `topics sub`, `pair --json`). */
export const jsonLine = (value: unknown) => out(JSON.stringify(value))

/** Columns padded to their widest cell; the last column is never padded. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows]
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return '-'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`
  return `${Math.floor(s / 86400)}d ago`
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = -1
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`
}

/**
 * A progress bar on stderr, redrawn at most 10 times a second, only when stderr is a terminal
 * (a script's stderr stays clean). `total` unknown: bytes and rate only.
 */
export class Progress {
  #done = 0
  #last = 0
  readonly #start = Date.now()
  readonly #tty: boolean
  constructor(
    readonly label: string,
    readonly total: number | undefined,
    tty = process.stderr.isTTY === true,
  ) {
    this.#tty = tty
  }
  add(n: number): void {
    this.#done += n
    const now = Date.now()
    if (now - this.#last >= 100) {
      this.#last = now
      this.#draw()
    }
  }
  get done(): number {
    return this.#done
  }
  finish(): void {
    if (!this.#tty) return
    this.#draw()
    process.stderr.write('\n')
  }
  #draw(): void {
    if (!this.#tty) return
    const secs = Math.max(0.001, (Date.now() - this.#start) / 1000)
    const rate = `${bytes(Math.round(this.#done / secs))}/s`
    let line: string
    if (this.total) {
      const frac = Math.min(1, this.#done / this.total)
      const width = 30
      const full = Math.round(frac * width)
      line = `${this.label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${bytes(this.#done)}/${bytes(this.total)} ${rate}`
    } else line = `${this.label} ${bytes(this.#done)} ${rate}`
    process.stderr.write(`\r${line}\x1b[K`)
  }
}
