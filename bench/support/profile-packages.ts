import { type ProfileNode, readProfile } from './cpu-profile-file.ts'

/**
 * Summarise a V8 .cpuprofile (or .cpuprofile.gz) by package, optionally over a time window only:
 * the busy ms, each package's inclusive share (a sample counts once for every package on its stack)
 * and self share. A frame's package is its node_modules package (`@scope/name`), `src/<dir>` for our
 * sources, or V8's and Node's own names. `per` divides the busy ms (connections made in the window).
 * `node --import tsx bench/support/profile-packages.ts <file> [fromUs toUs] [per] [N]`, or
 * `... --diff <a> <fromUs> <toUs> <per> <b> <fromUs> <toUs> <per>` for what a costs beyond b; the window is
 * in the profile's clock (CLOCK_MONOTONIC µs), as bench/reconnect.ts writes it to reconnect-windows.json.
 */

export function packageOf(frame: ProfileNode['callFrame']): string {
  const url = frame.url
  if (url === '') {
    const name = frame.functionName
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)' || name === '(root)') return name
    return 'native'
  }
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const [first = '', second = ''] = url.slice(nm + 'node_modules/'.length).split('/')
    return first.startsWith('@') ? `${first}/${second}` : first
  }
  const src = url.indexOf('/src/')
  if (src >= 0 && !url.startsWith('node:')) {
    const [dir = ''] = url.slice(src + '/src/'.length).split('/')
    return dir.includes('.') ? 'src/' : `src/${dir}`
  }
  if (url.startsWith('node:')) return 'node:internal'
  return url.replace(/^file:\/\//, '')
}

export interface Tally {
  /** µs per package: on the stack at all (inclusive), and as the leaf (self). */
  inclusive: Map<string, number>
  self: Map<string, number>
  busyUs: number
  idleUs: number
  spanS: number
}

/** Add up a profile's samples (within `window`, when given) by package. */
export function tally(file: string, window?: [number, number]): Tally {
  const { profile, byId, parent } = readProfile(file)
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let t = profile.startTime
  let busyUs = 0
  let idleUs = 0
  for (const [i, id] of profile.samples.entries()) {
    const dt = profile.timeDeltas[i] ?? 0
    t += dt
    if (window && (t < window[0] || t > window[1])) continue
    const leaf = byId.get(id)
    if (!leaf) continue
    const leafPkg = packageOf(leaf.callFrame)
    if (leafPkg === '(idle)') {
      idleUs += dt
      continue
    }
    busyUs += dt
    self.set(leafPkg, (self.get(leafPkg) ?? 0) + dt)
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)
      if (!node) break
      const pkg = packageOf(node.callFrame)
      if (seen.has(pkg) || pkg === '(root)') continue
      seen.add(pkg)
      inclusive.set(pkg, (inclusive.get(pkg) ?? 0) + dt)
    }
  }
  const spanS = window ? (window[1] - window[0]) / 1e6 : (profile.endTime - profile.startTime) / 1e6
  return { inclusive, self, busyUs, idleUs, spanS }
}

export function summarise(file: string, window?: [number, number], per = 1, top = 25): string {
  const { inclusive, self, busyUs, idleUs, spanS: span } = tally(file, window)
  const ms = (us: number) => (us / 1000 / per).toFixed(2).padStart(7)
  const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([pkg, us]) => `${pct(us)} ${ms(us)} ms  ${pkg}`)
  return [
    `${file.split('/').pop()}: ${span.toFixed(1)} s${window ? ' (window)' : ''}, busy ${(busyUs / 1000).toFixed(0)} ms, idle ${(idleUs / 1000).toFixed(0)} ms; ms columns are per ${per === 1 ? 'profile' : `connection (busy / ${per})`}`,
    '',
    'Inclusive share of busy time by package (a sample counts once for each package on its stack):',
    ...rows(inclusive),
    '',
    'Self time by package:',
    ...rows(self),
  ].join('\n')
}

/** Per connection, package by package: what `a` spends beyond `b` (inclusive ms), largest first. */
export function difference(a: Tally, perA: number, b: Tally, perB: number, top = 25): string {
  const names = new Set([...a.inclusive.keys(), ...b.inclusive.keys()])
  const rows = [...names]
    .map((pkg) => {
      const x = (a.inclusive.get(pkg) ?? 0) / 1000 / perA
      const y = (b.inclusive.get(pkg) ?? 0) / 1000 / perB
      return { pkg, x, y, d: x - y }
    })
    .sort((p, q) => q.d - p.d)
    .slice(0, top)
  const extra = a.busyUs / 1000 / perA - b.busyUs / 1000 / perB
  return [
    `busy ms per connection: ${(a.busyUs / 1000 / perA).toFixed(2)} vs ${(b.busyUs / 1000 / perB).toFixed(2)}, extra ${extra.toFixed(2)}`,
    'inclusive ms per connection, first vs second, and the difference (largest first; packages overlap, so the differences do not add up):',
    ...rows.map((r) => `${r.d.toFixed(2).padStart(7)}  ${r.x.toFixed(2).padStart(6)} vs ${r.y.toFixed(2).padStart(6)}  ${r.pkg}`),
  ].join('\n')
}

if (process.argv[1]?.endsWith('profile-packages.ts') && process.argv[2] === '--diff') {
  // --diff <a> <fromUs> <toUs> <per> <b> <fromUs> <toUs> <per>
  const [a = '', a0, a1, pa, b = '', b0, b1, pb] = process.argv.slice(3)
  const ta = tally(a, [Number(a0), Number(a1)])
  const tb = tally(b, [Number(b0), Number(b1)])
  process.stdout.write(`${difference(ta, Number(pa), tb, Number(pb))}\n`)
} else if (process.argv[1]?.endsWith('profile-packages.ts')) {
  const [file, a, b, c, d] = process.argv.slice(2)
  if (!file) throw new Error('usage: profile-packages.ts <file> [fromUs toUs] [per] [N]')
  const window: [number, number] | undefined = a && b ? [Number(a), Number(b)] : undefined
  process.stdout.write(`${summarise(file, window, Number(c ?? 1), Number(d ?? 25))}\n`)
}
