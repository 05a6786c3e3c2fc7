import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { cacheTransportAddrs } from '../../src/p2p/own-addresses.ts'

/** A transport manager whose every getAddrs() is counted (as os.networkInterfaces is read for a wildcard). */
function fakeWorld() {
  let expansions = 0
  let addrs = [multiaddr('/ip4/10.0.0.1/tcp/4001')]
  const listeners = new Map<string, Array<() => void>>()
  const transportManager = {
    getAddrs: () => {
      expansions++
      return addrs
    },
  }
  const events = {
    addEventListener: (type: string, fn: () => void) => listeners.set(type, [...(listeners.get(type) ?? []), fn]),
  }
  return {
    transportManager,
    events,
    expansions: () => expansions,
    setAddrs: (next: string[]) => {
      addrs = next.map((a) => multiaddr(a))
    },
    emit: (type: string) => {
      for (const fn of listeners.get(type) ?? []) fn()
    },
  }
}

describe("the transport manager's listener addresses", () => {
  it('are expanded once for many asks, and each asker gets its own array', () => {
    const w = fakeWorld()
    cacheTransportAddrs(w.transportManager, w.events, 60_000)
    const first = w.transportManager.getAddrs()
    for (let i = 0; i < 100; i++) w.transportManager.getAddrs()
    expect(w.expansions()).toBe(1)
    first.length = 0
    expect(w.transportManager.getAddrs().map(String)).toEqual(['/ip4/10.0.0.1/tcp/4001'])
  })

  it('are expanded again when a listener opens or closes', () => {
    const w = fakeWorld()
    cacheTransportAddrs(w.transportManager, w.events, 60_000)
    w.transportManager.getAddrs()
    w.setAddrs(['/ip4/10.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/4002/ws'])
    w.emit('transport:listening')
    expect(w.transportManager.getAddrs().map(String)).toEqual(['/ip4/10.0.0.1/tcp/4001', '/ip4/10.0.0.1/tcp/4002/ws'])
    w.setAddrs([])
    w.emit('transport:close')
    expect(w.transportManager.getAddrs()).toEqual([])
    expect(w.expansions()).toBe(3)
  })

  it('are expanded again once older than the limit: an interface change nobody announces', async () => {
    const w = fakeWorld()
    cacheTransportAddrs(w.transportManager, w.events, 20)
    w.transportManager.getAddrs()
    w.setAddrs(['/ip4/10.0.0.2/tcp/4001'])
    await expect.poll(() => w.transportManager.getAddrs().map(String), { timeout: 5_000 }).toEqual(['/ip4/10.0.0.2/tcp/4001'])
  })
})
