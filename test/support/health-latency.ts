import { Worker } from 'node:worker_threads'

/**
 * Ask `GET <origin>/health` on a fixed schedule (every `intervalMs`) for `durationMs` and resolve with
 * each request's latency (ms) measured from when it was due, not from when it could be sent: a stall
 * of the daemon delays every request due during it, so a 300 ms freeze shows as ~300/intervalMs slow
 * samples rather than one (no coordinated omission). The loop runs in a worker thread of its own, so
 * whatever the calling thread does meanwhile (building and sending hostile frames) does not delay it.
 */
export function timeHealth(origin: string, durationMs: number, intervalMs = 10): Promise<number[]> {
  const worker = new Worker(
    `
    const http = require('node:http')
    const { parentPort, workerData } = require('node:worker_threads')
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const one = (due) => new Promise((resolve, reject) => {
      http.get(workerData.url, { agent }, (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - due) : reject(new Error('/health answered ' + res.statusCode))))
      }).on('error', reject)
    })
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
    ;(async () => {
      const latencies = []
      const start = performance.now()
      for (let due = start; due < start + workerData.durationMs; due += workerData.intervalMs) {
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        latencies.push(await one(due))
      }
      agent.destroy()
      parentPort.postMessage(latencies)
    })().catch((err) => parentPort.postMessage({ error: String(err) }))
    `,
    { eval: true, workerData: { url: `${origin}/health`, durationMs, intervalMs } },
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
