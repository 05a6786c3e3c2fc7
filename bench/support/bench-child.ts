import { spawn } from 'node:child_process'

/**
 * A raw-library side of a benchmark in its own process, which reports on stdout and may take
 * commands on stdin: `line(prefix)` takes the first line not taken yet that starts with `prefix` (or
 * one of several), rejected if the process exits or `timeoutMs` passes first, with what it printed;
 * `send` writes a command line; `stop()` sends SIGTERM, SIGKILL after 10 s, and waits for the exit.
 */
export interface BenchChild {
  pid: number
  line(prefix: string | readonly string[], timeoutMs?: number): Promise<string>
  send(command: string): void
  stop(): Promise<void>
}

export function spawnBenchChild(args: string[], opts: { what: string; env?: NodeJS.ProcessEnv }): BenchChild {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env })
  let partial = ''
  let stderr = ''
  /** Lines printed and not yet taken by line(). */
  const lines: string[] = []
  const waiters = new Set<() => void>()
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    for (const check of waiters) check()
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  return {
    pid: child.pid as number,
    line(prefix, timeoutMs = 60_000) {
      const prefixes = typeof prefix === 'string' ? [prefix] : prefix
      return new Promise<string>((resolve, reject) => {
        const fail = (why: string) => {
          if (!waiters.delete(check)) return
          clearTimeout(timer)
          reject(new Error(`${opts.what}: ${why} before it printed "${prefixes.join('" or "')}"\n${lines.join('\n')}\n${stderr}`))
        }
        const check = () => {
          const i = lines.findIndex((l) => prefixes.some((p) => l.startsWith(p)))
          if (i < 0) return
          const [found] = lines.splice(i, 1)
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found as string)
        }
        const timer = setTimeout(() => fail(`${timeoutMs} ms passed`), timeoutMs)
        waiters.add(check)
        void exited.then(() => fail('it exited'))
        check()
      })
    },
    send(command) {
      child.stdin.write(`${command}\n`)
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}
