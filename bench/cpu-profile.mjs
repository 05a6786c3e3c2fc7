// Preload (`NODE_OPTIONS=--import ./bench/cpu-profile.mjs`) that CPU-profiles a process which cannot
// be started with `--cpu-prof` (not allowed in NODE_OPTIONS on Node 20): a daemon a benchmark spawns.
// Writes <CPU_PROF_DIR>/<pid>.cpuprofile when the process exits.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'

const dir = process.env.CPU_PROF_DIR
if (dir) {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 1000 })
  session.post('Profiler.start')
  process.on('exit', () => {
    // the inspector answers a same-thread session synchronously
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
