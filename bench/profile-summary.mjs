// Summarize a .cpuprofile: top functions by self time, and by total (inclusive) time.
// node bench/profile-summary.mjs <file.cpuprofile> [N]
import { readFileSync } from 'node:fs'

const [file, nArg] = process.argv.slice(2)
const N = Number(nArg ?? 30)
const prof = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const hits = new Map()
for (const s of prof.samples) hits.set(s, (hits.get(s) ?? 0) + 1)
const total = prof.samples.length
const label = (n) => {
  const f = n.callFrame
  const url = f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '')
  return `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`
}
const self = new Map()
const incl = new Map()
for (const [id, count] of hits) {
  const n = byId.get(id)
  const l = label(n)
  self.set(l, (self.get(l) ?? 0) + count)
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cl = label(byId.get(cur))
    if (seen.has(cl)) continue
    seen.add(cl)
    incl.set(cl, (incl.get(cl) ?? 0) + count)
  }
}
const pct = (c) => `${((100 * c) / total).toFixed(1).padStart(5)}%`
const idle = [...self].filter(([l]) => l.startsWith('(idle)')).reduce((a, [, c]) => a + c, 0)
console.log(`${file}: ${total} samples, ${((prof.endTime - prof.startTime) / 1e6).toFixed(1)} s, idle ${pct(idle)}`)
console.log('\nself time:')
for (const [l, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log(`${pct(c)}  ${l}`)
console.log('\ninclusive time:')
for (const [l, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log(`${pct(c)}  ${l}`)
