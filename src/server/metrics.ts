/** Counters the daemon keeps for /metrics; gauges are read live at scrape time. */
export class Metrics {
  /** Per method, per result code: two lookups and no string built on the request path. */
  readonly #requests = new Map<string, Map<number, number>>()
  wsClients = 0
  droppedPushes = 0
  /** Clients disconnected because frames they must get piled up. */
  slowClientsClosed = 0

  countRequest(method: string, code: number): void {
    let codes = this.#requests.get(method)
    if (codes === undefined) {
      codes = new Map()
      this.#requests.set(method, codes)
    }
    codes.set(code, (codes.get(code) ?? 0) + 1)
  }

  /** Request counts keyed `method\u0000code`, built when /metrics is scraped. */
  get requests(): Map<string, number> {
    const out = new Map<string, number>()
    for (const [method, codes] of this.#requests) for (const [code, n] of codes) out.set(`${method}\u0000${code}`, n)
    return out
  }
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

export interface Gauge {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: Array<{ labels?: Record<string, string>; value: number }>
}

/** Prometheus text exposition format, version 0.0.4. */
export function renderPrometheus(gauges: Gauge[]): string {
  const lines: string[] = []
  for (const g of gauges) {
    lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} ${g.type}`)
    for (const s of g.samples) {
      const labels = s.labels
        ? `{${Object.entries(s.labels)
            .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
            .join(',')}}`
        : ''
      lines.push(`${g.name}${labels} ${s.value}`)
    }
  }
  return `${lines.join('\n')}\n`
}
