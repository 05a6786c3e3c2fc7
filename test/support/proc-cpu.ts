import { readFileSync } from 'node:fs'
import { procStatFields } from '../../src/p2p/data-dir.ts'

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
export const CLK_TCK = 100

/** CPU ms (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  const fields = procStatFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK
}
