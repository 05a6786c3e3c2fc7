import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Entry, Group } from '../../src/p2p/address-book/entry.ts'
import type { AddressBookOptions } from '../../src/p2p/address-book.ts'
import { AddressBook, chanceOf, isTerrible } from '../../src/p2p/address-book.ts'
import { addressGroup, parseAddress, tryParseAddress } from '../../src/p2p/address-group.ts'
import { seeded, syntheticPeerId } from '../support/synthetic-peers.ts'

// ---- helpers ----

const pid = syntheticPeerId

/** Public IPv4 /16s: 11.x, 12.x, ... (first octets 11..99 are public and not special). */
function publicIp(group: number, host: number): string {
  const a = 11 + Math.floor(group / 256)
  const b = group % 256
  return `${a}.${b}.${Math.floor(host / 250) % 250}.${(host % 250) + 1}`
}
const tcp = (ip: string) => `/ip4/${ip}/tcp/4001`

const START = Date.UTC(2025, 0, 1)
const MIN = 60_000
const DAY = 24 * 60 * MIN

function clock() {
  let t = START
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    },
  }
}

function book(opts: AddressBookOptions = {}) {
  const c = clock()
  const b = new AddressBook({ now: c.now, random: seeded(42), log: () => {}, ...opts })
  return { b, c }
}

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'switchboard-ab-'))
  dirs.push(d)
  return d
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

function flipLastByte(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes)
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0xff
  return copy
}

// ---- address-group ----

describe('address-group', () => {
  it('groups IPv4 by /16 and extracts the peer id', () => {
    const p = parseAddress(`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`)
    expect(p).toMatchObject({ family: 'ip4', ip: '1.2.3.4', group: 'ip4:1.2', scope: 'public', peerId: pid(1), relayed: false })
    expect(addressGroup('/ip4/1.2.200.9/udp/4001/quic-v1')).toBe('ip4:1.2')
    expect(addressGroup('/ip4/1.3.3.4/tcp/1')).toBe('ip4:1.3')
  })

  it('groups IPv6 by /32 and embedded IPv4 by its /16', () => {
    expect(parseAddress('/ip6/2a01:4f8:1:2::5/tcp/4001')).toMatchObject({ family: 'ip6', group: 'ip6:2a01:4f8', scope: 'public' })
    expect(addressGroup('/ip6/2a01:4f9::1/tcp/1')).toBe('ip6:2a01:4f9')
    expect(parseAddress('/ip6/::ffff:5.6.7.8/tcp/1')).toMatchObject({ group: 'ip4:5.6', scope: 'public' })
    expect(parseAddress('/ip6/::ffff:127.0.0.1/tcp/1').scope).toBe('loopback')
    expect(parseAddress('/ip6/::ffff:10.1.2.3/tcp/1').scope).toBe('private')
    expect(addressGroup('/ip6/2002:506:708::1/tcp/1')).toBe('ip4:5.6') // 6to4
    expect(addressGroup('/ip6/64:ff9b::506:708/tcp/1')).toBe('ip4:5.6') // NAT64
  })

  it.each([
    ['/ip4/10.0.0.1/tcp/1', 'private'],
    ['/ip4/172.16.0.1/tcp/1', 'private'],
    ['/ip4/172.31.255.1/tcp/1', 'private'],
    ['/ip4/172.32.0.1/tcp/1', 'public'],
    ['/ip4/192.168.1.1/tcp/1', 'private'],
    ['/ip4/100.64.0.1/tcp/1', 'private'],
    ['/ip4/100.127.255.1/tcp/1', 'private'],
    ['/ip4/100.128.0.1/tcp/1', 'public'],
    ['/ip6/fd00::1/tcp/1', 'private'],
    ['/ip6/fc00::1/tcp/1', 'private'],
    ['/ip4/169.254.1.1/tcp/1', 'linkLocal'],
    ['/ip6/fe80::1/tcp/1', 'linkLocal'],
    ['/ip6zone/eth0/ip6/fe80::1/tcp/1', 'linkLocal'],
    ['/ip4/127.0.0.1/tcp/1', 'loopback'],
    ['/ip4/127.9.9.9/tcp/1', 'loopback'],
    ['/ip6/::1/tcp/1', 'loopback'],
    ['/ip4/0.0.0.0/tcp/1', 'unspecified'],
    ['/ip6/::/tcp/1', 'unspecified'],
    ['/ip4/224.0.0.1/udp/1', 'reserved'],
    ['/ip4/255.255.255.255/udp/1', 'reserved'],
    ['/ip6/2001:db8::1/tcp/1', 'reserved'],
    ['/ip4/8.8.8.8/tcp/1', 'public'],
    ['/dns4/localhost/tcp/1', 'loopback'],
    ['/dns4/printer.local/tcp/1', 'linkLocal'],
    ['/dns4/example.com/tcp/1', 'public'],
  ])('classifies %s as %s', (ma, scope) => {
    expect(parseAddress(ma).scope).toBe(scope)
  })

  it('groups DNS addresses by domain', () => {
    expect(parseAddress('/dns4/node1.Example.com/tcp/443/wss')).toMatchObject({
      family: 'dns',
      host: 'node1.example.com',
      group: 'dns:example.com',
    })
    expect(addressGroup('/dns6/a.b.c.example.com/tcp/1')).toBe('dns:example.com')
    expect(addressGroup('/dnsaddr/bootstrap.libp2p.io')).toBe('dns:libp2p.io')
    expect(addressGroup('/dns/x.example.co.uk/tcp/1')).toBe('dns:example.co.uk')
    expect(parseAddress('/dns4/node1.Example.com/tcp/443/wss').multiaddr).toBe('/dns4/node1.example.com/tcp/443/wss')
  })

  it('groups a relayed address by the relay and gives the target peer id', () => {
    const p = parseAddress(`/ip4/9.9.9.9/tcp/4001/p2p/${pid(1)}/p2p-circuit/p2p/${pid(2)}`)
    expect(p).toMatchObject({ group: 'ip4:9.9', peerId: pid(2), relayed: true })
  })

  it.each([
    'garbage',
    '',
    '/ip4/1.2.3/tcp/1',
    '/ip4/1.2.3.4/tcp/99999',
    '/ip4/1.2.3.4',
    `/ip4/1.2.3.4/p2p/${pid(1)}`,
    '/ip4/1.2.3.4/tcp/1/p2p/not-a-peer',
    `/p2p/${pid(1)}`,
    '/unix/tmp/sock',
    `/ip4/1.2.3.4/tcp/1${'/ws'.repeat(400)}`,
  ])('refuses %s', (ma) => {
    expect(tryParseAddress(ma)).toBeUndefined()
    expect(() => parseAddress(ma)).toThrow(/invalid address/)
  })
})

// ---- AddressBook ----

describe('AddressBook.add', () => {
  it('holds addresses from many /16s', () => {
    const { b } = book()
    for (let g = 0; g < 300; g++) {
      for (let h = 0; h < 3; h++) expect(b.add(tcp(publicIp(g, h)), { peerId: pid(g * 10 + h), source: 'dht' })).toEqual({ added: true })
    }
    expect(b.size).toBe(900)
    expect(b.groupCount).toBe(300)
  })

  it('refuses loopback, private and link-local unless allowed, and unspecified always', () => {
    const { b } = book()
    expect(b.add('/ip4/127.0.0.1/tcp/4001', { source: 'manual' })).toEqual({ added: false, reason: 'loopback' })
    expect(b.add('/ip6/::1/tcp/4001', { source: 'manual' })).toEqual({ added: false, reason: 'loopback' })
    expect(b.add('/dns4/localhost/tcp/4001', { source: 'manual' })).toEqual({ added: false, reason: 'loopback' })
    expect(b.add('/ip4/192.168.1.5/tcp/4001', { source: 'identify' })).toEqual({ added: false, reason: 'private' })
    expect(b.add('/ip4/169.254.3.3/tcp/4001', { source: 'identify' })).toEqual({ added: false, reason: 'link-local' })
    expect(b.add('/ip4/0.0.0.0/tcp/4001', { source: 'identify' })).toEqual({ added: false, reason: 'unspecified' })
    expect(b.size).toBe(0)

    const { b: lax } = book({ allowLoopback: true, allowPrivate: true, allowLinkLocal: true })
    expect(lax.add('/ip4/127.0.0.1/tcp/4001', { source: 'manual' }).added).toBe(true)
    expect(lax.add('/ip6/::1/tcp/4001', { source: 'manual' }).added).toBe(true)
    expect(lax.add('/ip4/192.168.1.5/tcp/4001', { source: 'identify' }).added).toBe(true)
    expect(lax.add('/ip4/169.254.3.3/tcp/4001', { source: 'identify' }).added).toBe(true)
    expect(lax.add('/ip4/0.0.0.0/tcp/4001', { source: 'identify' })).toEqual({ added: false, reason: 'unspecified' })
    expect(lax.size).toBe(4)
  })

  it('refuses invalid addresses, peer ids and sources', () => {
    const { b } = book()
    expect(b.add('nonsense', { source: 'dht' })).toEqual({ added: false, reason: 'invalid' })
    expect(b.add('/ip4/1.2.3.4/tcp/1', { source: 'dht', peerId: 'bogus' })).toEqual({ added: false, reason: 'invalid' })
    expect(b.add('/ip4/1.2.3.4/tcp/1', { source: 'gossip' as never })).toEqual({ added: false, reason: 'invalid' })
    expect(b.add(`/ip4/1.2.3.4/tcp/1/p2p/${pid(1)}`, { source: 'dht', peerId: pid(2) })).toEqual({ added: false, reason: 'peer-mismatch' })
    expect(b.size).toBe(0)
  })

  it('keys an endpoint with its peer id, however it was reported', () => {
    const { b, c } = book()
    expect(b.add('/ip4/1.2.3.4/tcp/4001', { peerId: pid(1), source: 'identify' }).added).toBe(true)
    c.advance(MIN)
    expect(b.add(`/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`, { source: 'dht' })).toEqual({ added: false, reason: 'exists' })
    expect(b.size).toBe(1)
    const e = b.get('/ip4/1.2.3.4/tcp/4001', pid(1))
    expect(e).toMatchObject({
      multiaddr: `/ip4/1.2.3.4/tcp/4001/p2p/${pid(1)}`,
      peerId: pid(1),
      source: 'identify',
      firstSeen: START,
      lastSeen: START + MIN,
    })

    // a bare entry learns its peer id
    expect(b.add('/ip4/5.6.7.8/tcp/4001', { source: 'dial' }).added).toBe(true)
    expect(b.add('/ip4/5.6.7.8/tcp/4001', { source: 'dht', peerId: pid(2) })).toEqual({ added: false, reason: 'exists' })
    expect(b.size).toBe(2)
    expect(b.get('/ip4/5.6.7.8/tcp/4001')).toBeUndefined()
    expect(b.forPeer(pid(2)).map((x) => x.multiaddr)).toEqual([`/ip4/5.6.7.8/tcp/4001/p2p/${pid(2)}`])
  })

  it('caps one /16 at maxPerGroup: an attacker with 1,000 addresses gets at most the limit', () => {
    const { b } = book({ maxPerGroup: 64 })
    for (let g = 0; g < 100; g++) b.add(tcp(publicIp(g, 0)), { peerId: pid(g), source: 'dht' })
    let refused = 0
    for (let i = 0; i < 1000; i++) {
      const r = b.add(`/ip4/45.33.${Math.floor(i / 250)}.${(i % 250) + 1}/tcp/4001`, { peerId: pid(10_000 + i), source: 'dht' })
      if (!r.added) {
        expect(r.reason).toBe('group-full')
        refused++
      }
    }
    expect(refused).toBe(1000 - 64)
    expect(b.list().filter((e) => e.multiaddr.startsWith('/ip4/45.33.')).length).toBe(64)
    expect(b.size).toBe(164)
  })

  it('lets a full group make room only by evicting a terrible entry of its own', () => {
    const { b } = book({ maxPerGroup: 3 })
    for (let h = 0; h < 3; h++) b.add(tcp(publicIp(0, h)), { source: 'dht' })
    expect(b.add(tcp(publicIp(0, 9)), { source: 'dht' })).toEqual({ added: false, reason: 'group-full' })
    const bad = tcp(publicIp(0, 1))
    for (let i = 0; i < 3; i++) {
      b.markAttempt(bad)
      b.markFailure(bad)
    }
    expect(b.add(tcp(publicIp(0, 9)), { source: 'dht' })).toEqual({ added: true, evicted: bad })
    expect(b.has(bad)).toBe(false)
    expect(b.size).toBe(3)
  })
})

describe('AddressBook outcomes', () => {
  it('counts attempts, successes and failures; quality follows them; unknown addresses are ignored', () => {
    const { b, c } = book()
    const ma = tcp('1.2.3.4')
    b.add(ma, { source: 'dht' })
    expect(b.get(ma)?.quality).toBe(0.5)
    b.markAttempt(ma)
    c.advance(1000)
    b.markSuccess(ma)
    b.markFailure(ma) // without markAttempt: still counted as an attempt
    const e = b.get(ma)
    expect(e).toMatchObject({
      attempts: 2,
      successes: 1,
      failures: 1,
      consecutiveFailures: 1,
      lastAttempt: START,
      lastSuccess: START + 1000,
    })
    expect(e?.failureTimes).toEqual([START + 1000])
    expect(e?.quality).toBeCloseTo(2 / 4)
    expect(b.markAttempt(tcp('9.9.9.9'))).toBe(false)
    expect(b.markSuccess(tcp('9.9.9.9'))).toBe(false)
    expect(b.markFailure(tcp('9.9.9.9'))).toBe(false)
    expect(b.remove(ma)).toBe(true)
    expect(b.remove(ma)).toBe(false)
    expect(b.size).toBe(0)
  })

  it('keeps only the most recent failure times', () => {
    const { b, c } = book()
    const ma = tcp('1.2.3.4')
    b.add(ma, { source: 'dht' })
    for (let i = 0; i < 40; i++) {
      c.advance(1000)
      b.markFailure(ma)
    }
    const e = b.get(ma)
    expect(e?.failures).toBe(40)
    expect(e?.failureTimes.length).toBe(16)
    expect(e?.failureTimes.at(-1)).toBe(START + 40_000)
  })

  it('judges terrible entries as documented', () => {
    const base = { lastSeen: START, attempts: 0, successes: 0, failureTimes: [] as number[] }
    expect(isTerrible(base, START + 29 * DAY)).toBe(false)
    expect(isTerrible(base, START + 31 * DAY)).toBe(true)
    expect(isTerrible({ ...base, attempts: 2 }, START)).toBe(false)
    expect(isTerrible({ ...base, attempts: 3 }, START)).toBe(true)
    expect(isTerrible({ ...base, attempts: 3, successes: 1 }, START)).toBe(false)
    const nine = Array.from({ length: 9 }, (_, i) => START + i)
    expect(isTerrible({ ...base, attempts: 20, successes: 5, failureTimes: nine }, START + DAY)).toBe(false)
    expect(isTerrible({ ...base, attempts: 20, successes: 5, failureTimes: [...nine, START + 9] }, START + DAY)).toBe(true)
    expect(isTerrible({ ...base, attempts: 20, successes: 5, failureTimes: [...nine, START + 9] }, START + 8 * DAY)).toBe(false)
  })

  it('chance: x0.01 when tried in the last 10 minutes, x0.66 per failure since the last success', () => {
    const e = { successes: 0, failures: 0, lastSeen: START, consecutiveFailures: 0 }
    expect(chanceOf(e, START)).toBeCloseTo(0.5)
    expect(chanceOf({ ...e, lastAttempt: START - 9 * MIN }, START)).toBeCloseTo(0.005)
    expect(chanceOf({ ...e, lastAttempt: START - 11 * MIN }, START)).toBeCloseTo(0.5)
    expect(chanceOf({ ...e, failures: 2, consecutiveFailures: 2 }, START)).toBeCloseTo(0.25 * 0.66 ** 2)
    expect(chanceOf({ ...e, failures: 20, consecutiveFailures: 20 }, START)).toBeCloseTo((1 / 22) * 0.66 ** 8)
  })
})

describe('AddressBook eviction', () => {
  it('evicts terrible entries first, then the weakest that never succeeded', () => {
    const { b, c } = book({ capacity: 4 })
    const [A, B, C, D, E, F] = ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4', '5.5.5.5', '6.6.6.6'].map(tcp) as string[] as [
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    b.add(D, { source: 'dht' }) // seen long ago, never refreshed
    c.advance(10 * DAY)
    b.add(A, { source: 'dht' })
    b.add(B, { source: 'dht' })
    b.add(C, { source: 'dht' })
    b.markSuccess(A)
    for (let i = 0; i < 3; i++) {
      b.markAttempt(B)
      b.markFailure(B)
    }
    c.advance(MIN)
    expect(b.add(E, { source: 'dht' })).toEqual({ added: true, evicted: B }) // terrible
    c.advance(MIN)
    expect(b.add(F, { source: 'dht' })).toEqual({ added: true, evicted: D }) // never succeeded, oldest lastSeen
    c.advance(MIN)
    expect(b.add(B, { source: 'dht' })).toEqual({ added: true, evicted: C }) // never succeeded, seen before E and F
    expect(b.has(A)).toBe(true)
    expect(b.size).toBe(4)
  })

  it('evicts a once-good entry directly only when it has become terrible', () => {
    const { b, c } = book({ capacity: 3 })
    const [A, B, C, D] = ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'].map(tcp) as [string, string, string, string]
    for (const x of [A, B, C]) {
      b.add(x, { source: 'dht' })
      b.markSuccess(x)
    }
    c.advance(31 * DAY)
    b.add(B, { source: 'identify' }) // refreshed
    b.add(C, { source: 'identify' })
    expect(b.add(D, { source: 'dht' })).toEqual({ added: true, evicted: A })
  })

  it('tests a once-good entry before evicting it: success keeps it, failure replaces it', () => {
    const { b, c } = book({ capacity: 2 })
    const [A, B, C] = ['1.1.1.1', '2.2.2.2', '3.3.3.3'].map(tcp) as [string, string, string]
    b.add(A, { source: 'dht' })
    b.add(B, { source: 'dht' })
    b.markSuccess(A)
    b.markSuccess(B)
    b.markSuccess(B) // B is better than A
    c.advance(MIN)

    expect(b.add(C, { source: 'dht' })).toEqual({ added: false, reason: 'pending-test' })
    expect(b.has(C)).toBe(false)
    expect(b.pendingTests()).toEqual([{ multiaddr: A, candidate: C, since: START + MIN }])
    expect(b.add(C, { source: 'dht' })).toEqual({ added: false, reason: 'pending-test' }) // no second test
    expect(b.pendingTests().length).toBe(1)

    b.markSuccess(A) // passed: A stays, C dropped
    expect(b.pendingTests()).toEqual([])
    expect(b.has(A)).toBe(true)
    expect(b.has(C)).toBe(false)

    expect(b.add(C, { source: 'dht' })).toEqual({ added: false, reason: 'pending-test' })
    const [t] = b.pendingTests()
    expect(t?.candidate).toBe(C)
    b.markAttempt(t?.multiaddr as string)
    b.markFailure(t?.multiaddr as string) // failed: replaced
    expect(b.pendingTests()).toEqual([])
    expect(b.has(t?.multiaddr as string)).toBe(false)
    expect(b.has(C)).toBe(true)
    expect(b.size).toBe(2)
  })

  it('evicts a newcomer that never succeeded before testing once-good entries', () => {
    const { b } = book({ capacity: 3 })
    const [A, B, C, D, E, F] = ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4', '5.5.5.5', '6.6.6.6'].map(tcp) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    for (const x of [A, B, C]) {
      b.add(x, { source: 'dht' })
      b.markSuccess(x)
    }
    b.markSuccess(B)
    b.markSuccess(C)
    expect(b.add(D, { source: 'dht' }).reason).toBe('pending-test') // A, the weakest, is under test
    expect(b.pendingTests().map((t) => t.multiaddr)).toEqual([A])
    b.remove(B)
    expect(b.add(E, { source: 'dht' })).toEqual({ added: true })
    expect(b.add(F, { source: 'dht' })).toEqual({ added: true, evicted: E })
    expect(b.pendingTests().map((t) => t.multiaddr)).toEqual([A])
  })

  it('lets an unanswered test lapse in favour of the old entry', () => {
    const { b, c } = book({ capacity: 1, testTimeoutMs: 30 * MIN })
    b.add(tcp('1.1.1.1'), { source: 'dht' })
    b.markSuccess(tcp('1.1.1.1'))
    expect(b.add(tcp('2.2.2.2'), { source: 'dht' }).reason).toBe('pending-test')
    c.advance(29 * MIN)
    expect(b.pendingTests().length).toBe(1)
    c.advance(2 * MIN)
    expect(b.pendingTests()).toEqual([])
    expect(b.has(tcp('1.1.1.1'))).toBe(true)
    expect(b.has(tcp('2.2.2.2'))).toBe(false)
  })

  it('bounds the number of open tests', () => {
    const { b } = book({ capacity: 3, maxPendingTests: 2 })
    for (const x of ['1.1.1.1', '2.2.2.2', '3.3.3.3'].map(tcp)) {
      b.add(x, { source: 'dht' })
      b.markSuccess(x)
    }
    expect(b.add(tcp('4.4.4.4'), { source: 'dht' }).reason).toBe('pending-test')
    expect(b.add(tcp('5.5.5.5'), { source: 'dht' }).reason).toBe('pending-test')
    expect(b.add(tcp('6.6.6.6'), { source: 'dht' })).toEqual({ added: false, reason: 'full' })
    expect(new Set(b.pendingTests().map((t) => t.multiaddr)).size).toBe(2)
  })

  it('sees an entry that turned terrible right after an eviction (large book)', () => {
    const { b, c } = book({ capacity: 100 })
    for (let g = 0; g < 100; g++) {
      b.add(tcp(publicIp(g, 0)), { source: 'dht' })
      c.advance(MIN) // later entries are fresher, so better
    }
    expect(b.add(tcp(publicIp(500, 0)), { source: 'dht' })).toEqual({ added: true, evicted: tcp(publicIp(0, 0)) })
    const freshest = tcp(publicIp(99, 0))
    for (let i = 0; i < 3; i++) {
      b.markAttempt(freshest)
      b.markFailure(freshest)
    }
    expect(b.add(tcp(publicIp(501, 0)), { source: 'dht' })).toEqual({ added: true, evicted: freshest })
    expect(b.add(tcp(publicIp(502, 0)), { source: 'dht' })).toEqual({ added: true, evicted: tcp(publicIp(1, 0)) })
  })

  it('stays within capacity under a long stream of new addresses', () => {
    const { b, c } = book({ capacity: 200 })
    for (let i = 0; i < 2000; i++) {
      b.add(tcp(publicIp(i, 0)), { source: 'dht' })
      if (i % 7 === 0) b.markFailure(tcp(publicIp(i, 0)))
      c.advance(1000)
    }
    expect(b.size).toBe(200)
  })
})

describe('AddressBook.best', () => {
  /** 100 honest peers in 100 /16s and an attacker with 1,000 addresses in one /16. */
  function attacked(extraHonestGroups = 0) {
    const { b } = book({ random: seeded(7), capacity: 100_000 })
    for (let g = 0; g < 100 + extraHonestGroups; g++) b.add(tcp(publicIp(g, 0)), { peerId: pid(g), source: 'dht' })
    for (let i = 0; i < 1000; i++) {
      b.add(`/ip4/45.33.${Math.floor(i / 250)}.${(i % 250) + 1}/tcp/4001`, { peerId: pid(50_000 + i), source: 'dht' })
    }
    return b
  }

  it.each([
    ['exact ranking (small book)', 0],
    ['sampling (large book)', 1900],
  ])('keeps an attacker /16 to at most 2 of best(8) and rarely picks it: %s', (_label, extra) => {
    const b = attacked(extra)
    let attackerTotal = 0
    for (let i = 0; i < 300; i++) {
      const picked = b.best(8)
      expect(picked.length).toBe(8)
      const perGroup = new Map<string, number>()
      for (const e of picked) perGroup.set(e.group, (perGroup.get(e.group) ?? 0) + 1)
      expect(Math.max(...perGroup.values())).toBeLessThanOrEqual(2)
      attackerTotal += picked.filter((e) => e.group === 'ip4:45.33').length
    }
    // a group is drawn as often as a lone address: ~8/101 per call, far below the cap of 2
    expect(attackerTotal / 300).toBeLessThan(0.5)
  })

  it.each([
    ['exact ranking (small book)', 20],
    ['sampling (large book)', 2000],
  ])('prefers good quality: %s', (_label, n) => {
    const { b, c } = book({ random: seeded(3), capacity: 100_000 })
    const good = new Set<string>()
    for (let g = 0; g < n; g++) {
      const ma = tcp(publicIp(g, 0))
      b.add(ma, { source: 'dht' })
      for (let k = 0; k < 4; k++) {
        b.markAttempt(ma)
        if (g % 2 === 0) b.markSuccess(ma)
        else b.markFailure(ma)
      }
      if (g % 2 === 0) good.add(ma)
    }
    c.advance(60 * MIN) // nothing was tried recently
    let goodPicks = 0
    let picks = 0
    for (let i = 0; i < 200; i++) {
      for (const e of b.best(4)) {
        picks++
        if (good.has(e.multiaddr)) goodPicks++
      }
    }
    expect(picks).toBe(800)
    expect(goodPicks / picks).toBeGreaterThan(0.9)
  })

  it.each([
    ['exact ranking (small book)', 20],
    ['sampling (large book)', 2000],
  ])('avoids addresses tried in the last 10 minutes: %s', (_label, n) => {
    const { b, c } = book({ random: seeded(11), capacity: 100_000 })
    const tried = new Set<string>()
    for (let g = 0; g < n; g++) b.add(tcp(publicIp(g, 0)), { source: 'dht' })
    for (let g = 0; g < n; g += 2) {
      b.markAttempt(tcp(publicIp(g, 0)))
      tried.add(tcp(publicIp(g, 0)))
    }
    c.advance(5 * MIN)
    const share = () => {
      let t = 0
      let all = 0
      for (let i = 0; i < 200; i++) {
        for (const e of b.best(4)) {
          all++
          if (tried.has(e.multiaddr)) t++
        }
      }
      return t / all
    }
    expect(share()).toBeLessThan(0.1)
    c.advance(6 * MIN) // now 11 minutes since the attempts
    expect(share()).toBeGreaterThan(0.3)
  })

  it.each([
    ['exact ranking (small book)', 10, 40],
    ['sampling (large book)', 20, 60],
  ])('never puts more than ceil(n/4) of one group in the result, even with few groups: %s', (_label, groups, perGroup) => {
    const { b } = book({ random: seeded(5), capacity: 100_000, maxPerGroup: 100 })
    for (let g = 0; g < groups; g++) {
      for (let h = 0; h < perGroup; h++) b.add(tcp(publicIp(g, h)), { source: 'dht' })
    }
    expect(b.size > 1024).toBe(groups * perGroup > 1024)
    for (let i = 0; i < 100; i++) {
      for (const n of [4, 8, 12]) {
        const counts = new Map<string, number>()
        for (const e of b.best(n)) counts.set(e.group, (counts.get(e.group) ?? 0) + 1)
        expect(Math.max(...counts.values())).toBeLessThanOrEqual(Math.ceil(n / 4))
      }
    }
    expect(b.best(8, { perGroup: 4 }).length).toBe(8)
  })

  it('returns each peer once, and only that peer with {peerId}', () => {
    const { b } = book()
    for (let g = 0; g < 10; g++) {
      b.add(tcp(publicIp(g, 0)), { peerId: pid(1), source: 'identify' })
      b.add(`/ip4/${publicIp(g, 1)}/udp/4001/quic-v1`, { peerId: pid(2), source: 'identify' })
    }
    b.add(tcp(publicIp(50, 0)), { peerId: pid(3), source: 'dht' })
    const picked = b.best(8)
    expect(picked.map((e) => e.peerId).sort()).toEqual([pid(1), pid(2), pid(3)].sort())
    const mine = b.best(5, { peerId: pid(2) })
    expect(mine.length).toBe(5)
    expect(mine.every((e) => e.peerId === pid(2))).toBe(true)
    expect(b.best(0)).toEqual([])
    expect(b.best(3, { peerId: pid(99) })).toEqual([])
  })

  it('forPeer sorts best first', () => {
    const { b, c } = book()
    const [x, y, z] = [tcp('1.1.1.1'), tcp('2.2.2.2'), '/ip4/3.3.3.3/udp/4001/quic-v1']
    for (const ma of [x, y, z]) b.add(ma, { peerId: pid(1), source: 'identify' })
    b.markSuccess(y, pid(1))
    b.markFailure(z, pid(1))
    c.advance(20 * MIN)
    b.markAttempt(y, pid(1)) // best quality, but being tried right now
    expect(b.forPeer(pid(1)).map((e) => e.multiaddr.split('/p2p/')[0])).toEqual([x, z, y])
    expect(b.forPeer(pid(9))).toEqual([])
  })

  /** The sampling loop over the entries themselves, as it was before the draw columns (selection.ts). */
  function referencePick(
    groups: readonly Group[],
    at: (g: Group, i: number) => Entry,
    n: number,
    perGroup: number,
    now: number,
    random: () => number,
  ): string[] {
    const out: Entry[] = []
    const chosen = new Set<Entry>()
    const perG = new Map<Group, number>()
    const peers = new Set<string>()
    let factor = 1
    for (let draw = 0; draw < 100 + 50 * n && out.length < n; draw++) {
      const g = groups[Math.floor(random() * groups.length)]
      if (g === undefined) break
      const i = Math.floor(random() * g.entries.length)
      if (i >= g.entries.length) continue
      const e = at(g, i)
      if (chosen.has(e)) continue
      const count = perG.get(g) ?? 0
      if (count >= perGroup) continue
      if (e.peerId !== undefined && peers.has(e.peerId)) continue
      if (random() >= chanceOf(e, now) * factor) {
        factor *= 1.2
        continue
      }
      factor = 1
      chosen.add(e)
      perG.set(g, count + 1)
      if (e.peerId !== undefined) peers.add(e.peerId)
      out.push(e)
    }
    return out.map((e) => e.multiaddr)
  }

  /** Random base58 peer ids (syntheticPeerId's share their last characters, so their peer tags all collide). */
  function randomPeerIds(count: number, rnd: () => number): string[] {
    const b58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
    return Array.from({ length: count }, () => `12D3KooW${Array.from({ length: 44 }, () => b58[Math.floor(rnd() * 58)]).join('')}`)
  }

  it.each([
    ['random peer ids', false],
    ['synthetic peer ids (equal peer tags)', true],
  ])(
    'large books: best() gives exactly what the sampling loop over the entries gives, through changes and a load: %s',
    async (_label, synthetic) => {
      const dir = await tempDir()
      const c = clock()
      let random = seeded(1)
      const path = join(dir, 'addressbook.bin')
      const b = new AddressBook({ path, now: c.now, random: () => random(), capacity: 3000, maxPerGroup: 40, log: () => {} })
      const rnd = seeded(9)
      const ids = synthetic ? Array.from({ length: 1500 }, (_, i) => pid(i)) : randomPeerIds(1500, rnd)
      // 60 groups; most peers with one address, some with several (in other groups), some addresses without a peer id
      for (let i = 0; i < 2400; i++) {
        const ma = tcp(publicIp(i % 60, Math.floor(i / 60)))
        const u = rnd()
        if (u < 0.1) b.add(ma, { source: 'dht' })
        else b.add(ma, { peerId: ids[u < 0.3 ? i % 50 : i % 1500] as string, source: 'identify' })
        if (u > 0.6) {
          b.markAttempt(ma)
          if (u > 0.8) b.markSuccess(ma)
          else b.markFailure(ma)
        }
      }
      const store = (book: AddressBook) =>
        (book as unknown as { store: { buckets: { list: Group[] }; at: (g: Group, i: number) => Entry } }).store
      const compare = (book: AddressBook, calls: number, seed: number) => {
        for (let i = 0; i < calls; i++) {
          const expected = referencePick(store(book).buckets.list, (g, i) => store(book).at(g, i), 8, 2, c.now(), seeded(seed + i))
          random = seeded(seed + i)
          const picked = book.best(8)
          expect(picked.map((e) => e.multiaddr)).toEqual(expected)
          // changes every field a draw reads: attempts (recent), outcomes, refreshes, a peer learnt, removals, new entries
          for (const e of picked) book.markAttempt(e.multiaddr)
          const first = picked[0]
          if (first !== undefined && i % 3 === 0) book.markFailure(first.multiaddr)
          if (first !== undefined && i % 5 === 0) book.markSuccess(first.multiaddr)
          if (first !== undefined && i % 7 === 0) book.remove(first.multiaddr)
          const fresh = tcp(publicIp(60 + (i % 40), 200 + i))
          book.add(fresh, { source: 'dht' })
          if (i % 2 === 0) book.add(fresh, { peerId: ids[(i * 7) % 1500] as string, source: 'identify' }) // the bare entry learns its peer
          if (i % 4 === 0) book.add(tcp(publicIp(i % 60, 0)), { source: 'dht' }) // a refresh (lastSeen)
          c.advance(i % 10 === 0 ? 11 * MIN : 20_000)
        }
      }
      expect(b.size).toBeGreaterThan(1024) // sampled, not ranked exactly
      compare(b, 300, 1000)
      await b.save()
      const loaded = await AddressBook.load(path, { now: c.now, random: () => random(), capacity: 3000, maxPerGroup: 40, log: () => {} })
      expect(loaded.size).toBe(b.size)
      compare(loaded, 300, 5000)
    },
  )
})

describe('AddressBook.list', () => {
  it('gives the wire shape, best first, limited', () => {
    const { b } = book()
    b.add(tcp('1.1.1.1'), { source: 'manual' })
    b.add(tcp('2.2.2.2'), { source: 'dht', peerId: pid(2) })
    b.markSuccess(tcp('2.2.2.2'), pid(2))
    const all = b.list()
    expect(all.length).toBe(2)
    expect(all[0]).toEqual({
      multiaddr: `${tcp('2.2.2.2')}/p2p/${pid(2)}`,
      peerId: pid(2),
      source: 'dht',
      firstSeen: START,
      lastSeen: START,
      attempts: 1,
      successes: 1,
      failures: 0,
      quality: 0.667,
    })
    expect(Object.keys(all[1] as object).sort()).toEqual([
      'attempts',
      'failures',
      'firstSeen',
      'lastSeen',
      'multiaddr',
      'quality',
      'source',
      'successes',
    ])
    expect(b.list(1).length).toBe(1)
    expect(b.list(0)).toEqual([])
  })
})

describe('AddressBook persistence', () => {
  it('round-trips through save and load', async () => {
    const dir = await tempDir()
    const path = join(dir, 'addressbook.json')
    const c = clock()
    const b = new AddressBook({ path, now: c.now, log: () => {} })
    for (let g = 0; g < 50; g++) b.add(tcp(publicIp(g, 0)), { peerId: pid(g), source: g % 2 ? 'dht' : 'identify' })
    b.markAttempt(tcp(publicIp(3, 0)), pid(3))
    b.markSuccess(tcp(publicIp(3, 0)), pid(3))
    b.markFailure(tcp(publicIp(4, 0)), pid(4))
    await b.save()

    const logs: string[] = []
    const loaded = await AddressBook.load(path, { now: c.now, log: (m) => logs.push(m) })
    expect(logs).toEqual([])
    expect(loaded.size).toBe(50)
    expect(loaded.list()).toEqual(b.list())
    expect(loaded.get(tcp(publicIp(4, 0)), pid(4))).toEqual(b.get(tcp(publicIp(4, 0)), pid(4)))
    expect(loaded.forPeer(pid(3))[0]).toMatchObject({ successes: 1, attempts: 1, lastSuccess: START })
    expect(loaded.path).toBe(path)
  })

  it('gives an empty book when the file does not exist', async () => {
    const dir = await tempDir()
    const loaded = await AddressBook.load(join(dir, 'none.json'), { log: () => {} })
    expect(loaded.size).toBe(0)
  })

  it.each([
    // the file is binary (format version 2): corrupt its bytes
    ['a flipped byte (checksum)', (bytes: Buffer) => flipLastByte(bytes), /checksum mismatch/],
    ['garbage', () => Buffer.from('this is not json{'), /not valid JSON/],
    [
      'another format',
      (bytes: Buffer) => Buffer.from(bytes.toString('latin1').replace('switchboard.addressbook', 'switchboard.bans'), 'latin1'),
      /format/,
    ],
  ])('on a corrupt file (%s): logs a clear error, keeps the file aside, starts empty', async (_label, corrupt, why) => {
    const dir = await tempDir()
    const path = join(dir, 'addressbook.json')
    const b = new AddressBook({ path, log: () => {} })
    for (let g = 0; g < 5; g++) b.add(tcp(publicIp(g, 0)), { source: 'dht' })
    await b.save()
    const original = await readFile(path)
    const bad = corrupt(original)
    await writeFile(path, bad)

    const logs: string[] = []
    const loaded = await AddressBook.load(path, { log: (m) => logs.push(m) })
    expect(loaded.size).toBe(0)
    expect(logs.length).toBe(1)
    expect(logs[0]).toMatch(/address book is corrupt/)
    expect(logs[0]).toMatch(why)
    expect(logs[0]).toContain(path)
    const files = await readdir(dir)
    const aside = files.filter((f) => f.startsWith('addressbook.json.corrupt-'))
    expect(aside.length).toBe(1)
    expect(files).not.toContain('addressbook.json')
    expect(await readFile(join(dir, aside[0] as string))).toEqual(bad)
    expect(logs[0]).toContain(aside[0])

    // the empty book saves over the old name again
    loaded.add(tcp('1.2.3.4'), { source: 'manual' })
    await loaded.save()
    expect((await AddressBook.load(path, { log: () => {} })).size).toBe(1)
  })

  it('skips saved entries the current options refuse, and says so', async () => {
    const dir = await tempDir()
    const path = join(dir, 'addressbook.json')
    const b = new AddressBook({ path, allowPrivate: true, log: () => {} })
    b.add('/ip4/192.168.1.2/tcp/4001', { source: 'pairing' })
    b.add(tcp('1.2.3.4'), { source: 'dht' })
    await b.save()
    const logs: string[] = []
    const loaded = await AddressBook.load(path, { log: (m) => logs.push(m) })
    expect(loaded.size).toBe(1)
    expect(loaded.has(tcp('1.2.3.4'))).toBe(true)
    expect(logs.join('\n')).toMatch(/skipped 1 of 2/)
  })

  it('keeps the best entries when loading into a smaller book', async () => {
    const dir = await tempDir()
    const path = join(dir, 'addressbook.json')
    const b = new AddressBook({ path, log: () => {} })
    for (let g = 0; g < 10; g++) b.add(tcp(publicIp(g, 0)), { source: 'dht' })
    b.markSuccess(tcp(publicIp(7, 0)))
    b.markSuccess(tcp(publicIp(8, 0)))
    await b.save()
    const loaded = await AddressBook.load(path, { capacity: 2, log: () => {} })
    expect(
      loaded
        .list()
        .map((e) => e.multiaddr)
        .sort(),
    ).toEqual([tcp(publicIp(7, 0)), tcp(publicIp(8, 0))].sort())
  })
})
