import { describe, expect, it } from 'vitest'
import { embeddedIPv4, ipv6ScopeOf, parseAddress, parseIPv4, parseIPv6, tryParseAddress } from '../../src/p2p/address-group.ts'

// Inputs that ipaddr.js (which parses IP literals here) reads differently from the rules this module keeps.
describe('address-group IP literals where ipaddr.js is more lenient', () => {
  it('accepts only strict dotted-quad IPv4', () => {
    expect(parseIPv4('1.2.3.4')?.octets).toEqual([1, 2, 3, 4])
    for (const t of ['0x7f.0.0.1', '010.0.0.1', '01.2.3.4', '2130706433', '127.1', '1.2.3', '1.2.3.256', ' 1.2.3.4']) {
      expect(parseIPv4(t), t).toBeUndefined()
    }
    expect(tryParseAddress('/dns4/0x7f.0.0.1/tcp/1')?.scope).toBe('public') // a DNS name, not the loopback literal
  })

  it('refuses zone ids inside the IPv6 text (a zone is its own /ip6zone component)', () => {
    expect(parseIPv6('fe80::1%eth0')).toBeUndefined()
    expect(parseIPv6('::ffff:1.2.3.4%1')).toBeUndefined()
    expect(parseIPv6('fe80::1')?.parts).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1])
    expect(parseAddress('/ip6zone/eth0/ip6/fe80::1/tcp/1').scope).toBe('linkLocal')
  })

  it('refuses a non-decimal or zero-padded dotted quad inside IPv6', () => {
    expect(parseIPv6('::ffff:0x1.2.3.4')).toBeUndefined()
    expect(parseIPv6('::ffff:01.2.3.4')).toBeUndefined()
    expect(parseIPv6('::ffff:1.2.3.4')?.parts).toEqual([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304])
  })

  it('keeps ::a.b.c.d as deprecated IPv4-compatible (reserved), not IPv4-mapped', () => {
    const ip = parseIPv6('::1.2.3.4')
    expect(ip?.parts).toEqual([0, 0, 0, 0, 0, 0, 0x102, 0x304])
    expect(ip && embeddedIPv4(ip)).toBeUndefined()
    expect(ip && ipv6ScopeOf(ip)).toBe('reserved')
    expect(parseAddress('/ip6/::ffff:1.2.3.4/tcp/1')).toMatchObject({ group: 'ip4:1.2', scope: 'public' })
  })

  it('refuses hextets longer than four digits and a :: that compresses nothing', () => {
    for (const t of ['12345::1', '1:2:3:4:5:6:7:8::', '1::2::3', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9']) {
      expect(parseIPv6(t), t).toBeUndefined()
    }
  })

  it('finds the IPv4 address in Teredo, 6to4 and NAT64 addresses', () => {
    const octets = (t: string) => {
      const ip = parseIPv6(t)
      return ip === undefined ? undefined : embeddedIPv4(ip)?.octets
    }
    expect(octets('2001:0:1:2:3:4:fefd:fcfb')).toEqual([1, 2, 3, 4])
    expect(octets('2002:102:304::1')).toEqual([1, 2, 3, 4])
    expect(octets('64:ff9b::102:304')).toEqual([1, 2, 3, 4])
    expect(octets('2001:db8::1')).toBeUndefined()
  })
})
