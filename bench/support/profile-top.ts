import { type ProfileNode, readProfile } from './cpu-profile-file.ts'

/**
 * Summarise a V8 .cpuprofile (or .cpuprofile.gz): self and total time per function (top N), as text for bench/profiles/.
 * `node --import tsx bench/support/profile-top.ts <file.cpuprofile> [N]`
 */

const [file, n = '30'] = process.argv.slice(2)
if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [N]')
const { profile, byId, parent } = readProfile(file)
const selfUs = new Map<number, number>()
for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)
const short = (url: string) => url.replace(/^.*\/node_modules\//, '~/').replace(/^file:\/\/\/[^ ]*?\/src\//, 'src/')
const label = (x: ProfileNode) => `${x.callFrame.functionName || '(anonymous)'} ${short(x.callFrame.url)}:${x.callFrame.lineNumber + 1}`
const self = new Map<string, number>()
const incl = new Map<string, number>()
for (const [id, us] of selfUs) {
  const node = byId.get(id)
  if (!node) continue
  self.set(label(node), (self.get(label(node)) ?? 0) + us)
  const seen = new Set<string>()
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur) as ProfileNode)
    if (seen.has(l)) continue
    seen.add(l)
    incl.set(l, (incl.get(l) ?? 0) + us)
  }
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`
const top = (m: Map<string, number>) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(n))
    .map(([l, us]) => `${pct(us)}  ${l}`)
    .join('\n')
const idle = [...self].filter(([l]) => l.startsWith('(idle)')).reduce((a, [, us]) => a + us, 0)
process.stdout.write(
  `${file}: ${(total / 1e6).toFixed(1)} s sampled, idle ${pct(idle)}\n\n## self time\n${top(self)}\n\n## total time (inclusive)\n${top(incl)}\n`,
)
