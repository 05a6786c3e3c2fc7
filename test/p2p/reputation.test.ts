import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LOCAL_FAILURE_FLOOR, Reputation } from '../../src/p2p/reputation.ts'
import type { Ban, ReputationOptions } from '../../src/p2p/reputation.ts'

const START = Date.UTC(2025, 0, 1)
const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const P = '12D3KooWPeerAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const Q = '12D3KooWPeerBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

function setup(opts: ReputationOptions = {}) {
  let t = START
  const banned: Array<{ peerId: string; until: number; reason: string }> = []
  const rep = new Reputation({
    now: () => t,
    log: () => {},
    onBan: (peerId, until, reason) => banned.push({ peerId, until, reason }),
    ...opts,
  })
  return {
    rep,
    banned,
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
}

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tempFile(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'switchboard-rep-'))
  dirs.push(d)
  return join(d, 'bans.json')
}

describe('Reputation scores', () => {
  it('decays toward 0 with a 10-minute half-life', () => {
    const { rep, advance } = setup()
    expect(rep.score(P)).toBe(0)
    expect(rep.violation(P, 'malformed-frame', 40)).toBe(-40)
    advance(10 * MIN)
    expect(rep.score(P)).toBeCloseTo(-20, 9)
    advance(10 * MIN)
    expect(rep.score(P)).toBeCloseTo(-10, 9)
    advance(5 * MIN)
    expect(rep.score(P)).toBeCloseTo(-10 / Math.SQRT2, 9)

    rep.reward(Q, 80)
    advance(30 * MIN)
    expect(rep.score(Q)).toBeCloseTo(10, 9)
  })

  it('clamps to [-100, 100]', () => {
    const { rep } = setup()
    rep.reward(P, 500)
    expect(rep.score(P)).toBe(100)
    for (let i = 0; i < 10; i++) rep.violation(Q, 'flood', 100)
    expect(rep.score(Q)).toBe(-100)
  })

  it('lists peers in the wire shape', () => {
    const { rep } = setup()
    rep.localFailure(P)
    rep.localFailure(P)
    rep.violation(Q, 'bad-pairing-proof', 60)
    const list = rep.list()
    expect(list).toEqual([
      { peerId: Q, score: -60, failures: 0, bannedUntil: START + HOUR },
      { peerId: P, score: -2, failures: 2 },
    ])
  })
})

describe('Reputation local failures', () => {
  it('cost at most 1 point each and never ban, however many', () => {
    const { rep, banned } = setup()
    expect(rep.localFailure(P)).toBe(-1)
    for (let i = 0; i < 10_000; i++) rep.localFailure(P)
    expect(rep.score(P)).toBe(LOCAL_FAILURE_FLOOR)
    expect(rep.score(P)).toBe(-49)
    expect(rep.isBanned(P)).toBe(false)
    expect(banned).toEqual([])
    expect(rep.list()[0]).toMatchObject({ peerId: P, failures: 10_001 })
  })

  it('cannot be configured to cost more than 1', () => {
    const { rep } = setup({ localFailureCost: 30 })
    expect(rep.localFailure(P)).toBe(-1)
  })

  it('leave a score already below the floor alone, and a violation still bans', () => {
    const { rep, banned } = setup()
    rep.violation(P, 'flood', 45)
    for (let i = 0; i < 20; i++) rep.localFailure(P)
    expect(rep.score(P)).toBe(-49)
    expect(banned).toEqual([])
    rep.violation(P, 'malformed-frame', 10)
    expect(rep.score(P)).toBe(-59)
    expect(rep.isBanned(P)).toBe(true)
    for (let i = 0; i < 5; i++) rep.localFailure(P)
    expect(rep.score(P)).toBe(-59)
  })
})

describe('Reputation violations and bans', () => {
  it('bans when a violation brings the score to -50 or lower, and tells onBan and the ban event', () => {
    const { rep, banned } = setup()
    const events: Ban[] = []
    rep.on('ban', (b) => events.push(b))
    rep.violation(P, 'malformed-frame') // 20
    rep.violation(P, 'malformed-frame') // 40
    expect(rep.isBanned(P)).toBe(false)
    rep.violation(P, 'malformed-frame') // 60
    expect(rep.isBanned(P)).toBe(true)
    expect(banned).toEqual([{ peerId: P, until: START + HOUR, reason: 'score -60 after malformed-frame' }])
    expect(events).toEqual([{ peerId: P, until: START + HOUR, reason: 'score -60 after malformed-frame', createdAt: START }])
    rep.violation(P, 'flood') // already banned: no second ban
    expect(banned.length).toBe(1)
  })

  it('treats exactly -50 as a ban and -49.9 as not', () => {
    const { rep } = setup()
    rep.violation(P, 'x', 49.9)
    expect(rep.isBanned(P)).toBe(false)
    rep.violation(Q, 'x', 50)
    expect(rep.isBanned(Q)).toBe(true)
  })

  it('uses the documented default weights', () => {
    const { rep } = setup()
    expect(rep.violation(P, 'malformed-frame')).toBe(-20)
    expect(rep.violation(Q, 'flood')).toBe(-30)
    expect(rep.violation('peer-c', 'bad-pairing-proof')).toBe(-35)
    expect(rep.violation('peer-d', 'something-else')).toBe(-25)
  })

  it('doubles the ban on each repeat, capped at 7 days, and forgets after 30 days', () => {
    const { rep, banned, advance, now } = setup()
    const lengths: number[] = []
    for (let i = 0; i < 10; i++) {
      rep.violation(P, 'flood', 100)
      const last = banned.at(-1) as { until: number }
      lengths.push((last.until - now()) / HOUR)
      advance(last.until - now() + 1) // wait it out
      expect(rep.isBanned(P)).toBe(false)
    }
    expect(lengths).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 168, 168])
    expect(rep.banCount(P)).toBe(10)
    advance(31 * DAY)
    expect(rep.banCount(P)).toBe(0)
    rep.violation(P, 'flood', 100)
    expect(((banned.at(-1) as { until: number }).until - now()) / HOUR).toBe(1)
  })

  it('expires bans by themselves', () => {
    const { rep, advance } = setup()
    rep.violation(P, 'flood', 100)
    advance(HOUR - 1)
    expect(rep.isBanned(P)).toBe(true)
    advance(1)
    expect(rep.isBanned(P)).toBe(false)
    expect(rep.bans.list()).toEqual([])
    expect(rep.list()[0]?.bannedUntil).toBeUndefined()
  })
})

describe('Reputation manual bans', () => {
  it('add, list, isBanned, remove', () => {
    const { rep, banned, advance } = setup()
    const unbans: string[] = []
    rep.on('unban', (id) => unbans.push(id))
    const b = rep.bans.add(P, 90, 'spam')
    expect(b).toEqual({ peerId: P, until: START + 90_000, reason: 'spam', createdAt: START })
    expect(banned).toEqual([{ peerId: P, until: START + 90_000, reason: 'spam' }])
    rep.bans.add(Q) // escalating default: 1 h
    expect(rep.bans.list()).toEqual([
      { peerId: P, until: START + 90_000, reason: 'spam', createdAt: START },
      { peerId: Q, until: START + HOUR, reason: 'manual', createdAt: START },
    ])
    expect(rep.bans.isBanned(P)).toBe(true)
    advance(1000)
    expect(rep.bans.remove(P)).toBe(true)
    expect(rep.bans.remove(P)).toBe(false)
    expect(rep.isBanned(P)).toBe(false)
    expect(unbans).toEqual([P])
    expect(rep.bans.list().map((x) => x.peerId)).toEqual([Q])
  })

  it('remove resets the score so the peer starts afresh', () => {
    const { rep } = setup()
    rep.violation(P, 'flood', 90)
    rep.bans.remove(P)
    expect(rep.score(P)).toBe(0)
    rep.violation(P, 'malformed-frame')
    expect(rep.isBanned(P)).toBe(false)
  })

  it('refuses a bad TTL or peer id', () => {
    const { rep } = setup()
    expect(() => rep.bans.add(P, 0)).toThrow(RangeError)
    expect(() => rep.bans.add(P, -5)).toThrow(RangeError)
    expect(() => rep.bans.add(P, Number.POSITIVE_INFINITY)).toThrow(RangeError)
    expect(() => rep.bans.add('', 10)).toThrow(TypeError)
    expect(rep.bans.list()).toEqual([])
  })
})

describe('Reputation persistence', () => {
  it('keeps bans and ban counts through save and load; expired bans vanish', async () => {
    const path = await tempFile()
    const a = setup({ path })
    a.rep.violation(P, 'flood', 100) // 1 h
    a.rep.bans.add(Q, 7200, 'abuse') // 2 h
    a.rep.bans.add('peer-short', 60, 'brief')
    await a.rep.save()

    let t = START + 30 * MIN
    const logs: string[] = []
    const loaded = await Reputation.load(path, { now: () => t, log: (m) => logs.push(m) })
    expect(logs).toEqual([])
    expect(loaded.bans.list()).toEqual([
      { peerId: P, until: START + HOUR, reason: 'score -100 after flood', createdAt: START },
      { peerId: Q, until: START + 2 * HOUR, reason: 'abuse', createdAt: START },
    ])
    expect(loaded.isBanned(P)).toBe(true)
    expect(loaded.banCount(P)).toBe(1)
    expect(loaded.score(P)).toBe(0) // scores are runtime only

    t = START + 90 * MIN // P's ban is over, Q's is not
    await loaded.save()
    const again = await Reputation.load(path, { now: () => t })
    expect(again.bans.list().map((b) => b.peerId)).toEqual([Q])
    // the count survived: P's next ban lasts 2 h
    again.violation(P, 'flood', 100)
    expect(again.bans.get(P)?.until).toBe(t + 2 * HOUR)

    t = START + 3 * HOUR // everything expired while "down"
    const later = await Reputation.load(path, { now: () => t })
    expect(later.list()).toEqual([]) // not even a trace of the expired records
    expect(later.bans.list()).toEqual([])
  })

  it('gives an empty list when the file does not exist', async () => {
    const path = await tempFile()
    const rep = await Reputation.load(path, { log: () => {} })
    expect(rep.bans.list()).toEqual([])
  })

  it('on a corrupt file: logs a clear error, keeps the file aside, starts with no bans', async () => {
    const path = await tempFile()
    const a = setup({ path })
    a.rep.bans.add(P, 3600, 'x')
    await a.rep.save()
    const text = await readFile(path, 'utf8')
    const bad = text.replace('"x"', '"y"')
    expect(bad).not.toBe(text)
    await writeFile(path, bad)

    const logs: string[] = []
    const rep = await Reputation.load(path, { now: a.now, log: (m) => logs.push(m) })
    expect(rep.bans.list()).toEqual([])
    expect(logs.length).toBe(1)
    expect(logs[0]).toMatch(/ban list is corrupt: .*checksum mismatch/)
    const dir = join(path, '..')
    const files = await readdir(dir)
    const aside = files.filter((f) => f.startsWith('bans.json.corrupt-'))
    expect(aside.length).toBe(1)
    expect(files).not.toContain('bans.json')
    expect(await readFile(join(dir, aside[0] as string), 'utf8')).toBe(bad)
  })
})
