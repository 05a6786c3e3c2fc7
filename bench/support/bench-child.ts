import { spawn } from 'node:child_process'

/**
 * A raw-library side of a benchmark in its own process, which reports on stdout: `line(prefix)` is
 * the first line that starts with `prefix` (rejected if the process exits or `timeoutMs` passes
 * first, with what it printed); `stop()` sends SIGTERM, SIGKILL after 10 s, and waits for the exit.
 */
export interface BenchChild {
  line(prefix: string, timeoutMs?: number): Promise<string>
  stop(): Promise<void>
}

export function spawnBenchChild(args: string[], opts: { what: string; env?: NodeJS.ProcessEnv }): BenchChild {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env })
  let stdout = ''
  let stderr = ''
  const waiters = new Set<() => void>()
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
    for (const check of waiters) check()
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  return {
    line(prefix, timeoutMs = 60_000) {
      return new Promise<string>((resolve, reject) => {
        const fail = (why: string) => {
          waiters.delete(check)
          clearTimeout(timer)
          reject(new Error(`${opts.what}: ${why} before it printed "${prefix}"\n${stdout}\n${stderr}`))
        }
        const check = () => {
          const found = stdout.split('\n').find((l) => l.startsWith(prefix))
          if (found === undefined) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
        const timer = setTimeout(() => fail(`${timeoutMs} ms passed`), timeoutMs)
        waiters.add(check)
        void exited.then(() => fail('it exited'))
        check()
      })
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}
