import { Worker } from 'node:worker_threads'

/**
 * Time `GET <origin>/health` back to back for `durationMs` and resolve with every latency (ms). The
 * loop runs in a worker thread of its own, so whatever the calling thread does meanwhile (building
 * and sending hostile frames) does not delay it and only the daemon's answer time is measured.
 */
export function timeHealth(origin: string, durationMs: number): Promise<number[]> {
  const worker = new Worker(
    `
    const http = require('node:http')
    const { parentPort, workerData } = require('node:worker_threads')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const one = () => new Promise((resolve, reject) => {
      const t0 = performance.now()
      http.get(workerData.url, { agent }, (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error('/health answered ' + res.statusCode))))
      }).on('error', reject)
    })
    ;(async () => {
      const latencies = []
      const until = Date.now() + workerData.durationMs
      while (Date.now() < until) latencies.push(await one())
      agent.destroy()
      parentPort.postMessage(latencies)
    })().catch((err) => parentPort.postMessage({ error: String(err) }))
    `,
    { eval: true, workerData: { url: `${origin}/health`, durationMs } },
  )
  return new Promise((resolve, reject) => {
    worker.once('message', (m: number[] | { error: string }) => {
      void worker.terminate()
      if (Array.isArray(m)) resolve(m)
      else reject(new Error(m.error))
    })
    worker.once('error', reject)
  })
}

/** The `q` quantile (0..1) of `values`. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}
