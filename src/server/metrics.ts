/** Counters the daemon keeps for /metrics; gauges are read live at scrape time. */
export class Metrics {
  readonly requests = new Map<string, number>()
  wsClients = 0
  droppedPushes = 0
  /** Clients disconnected because frames they must get piled up. */
  slowClientsClosed = 0

  countRequest(method: string, code: number): void {
    const key = `${method}\u0000${code}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
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
