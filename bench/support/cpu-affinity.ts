import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { procStatFields } from '../../src/p2p/data-dir.ts'

/**
 * CPU affinity of whole processes for benchmarks, through util-linux `taskset` (Linux only): pin every
 * thread of a process to a CPU list, read back where its threads may run, restore a saved list.
 * Threads a pinned thread creates later inherit its list, so pinning a process before it starts a
 * worker pins the worker too.
 */

/** Why processes cannot be pinned here (no taskset, or no /proc), or undefined when they can. */
export function pinningUnavailable(): string | undefined {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
  } catch (err) {
    return `taskset did not run (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  try {
    readdirSync('/proc/self/task')
  } catch {
    return 'no /proc/self/task to read threads from'
  }
  return undefined
}

/** Allow every current thread of `pid` only the CPU list `cpus` ("0", "0,1"): `taskset -a -c -p`. */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' })
}

/** The CPU list of the process's main thread, as taskset prints it ("0,1", "0-3"). */
export function affinityOf(pid: number): string {
  const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' })
  const list = /affinity list:\s*(\S+)/.exec(out)?.[1]
  if (list === undefined) throw new Error(`unexpected taskset output: ${out}`)
  return list
}

/** How many threads `pid` has, and the distinct CPU lists they are allowed (Cpus_allowed_list of each). */
export function threadAffinity(pid: number): { threads: number; cpus: string[] } {
  const cpus = new Set<string>()
  let threads = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
    const list = cpusAllowed(status)
    if (list === undefined) continue
    threads += 1
    cpus.add(list)
  }
  return { threads, cpus: [...cpus] }
}

/** The pids of `parent`'s children whose command line (arguments split at NUL) satisfies `match`. */
export function childPids(parent: number, match: (argv: string[]) => boolean): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const ppid = Number(procStatFields(readFileSync(`/proc/${entry}/stat`, 'utf8'))[1])
      if (ppid !== parent) continue
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a !== '')
      if (match(argv)) found.push(Number(entry))
    } catch {
      // gone between the listing and the read
    }
  }
  return found
}

/** The Cpus_allowed_list of a /proc status text. */
function cpusAllowed(status: string): string | undefined {
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1]
}

/** The CPU list the calling thread may run on, from /proc/thread-self (Linux), or '?' elsewhere. */
export function threadCpus(): string {
  try {
    return cpusAllowed(readFileSync('/proc/thread-self/status', 'utf8')) ?? '?'
  } catch {
    return '?'
  }
}
