import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AddressBook } from '../../src/p2p/address-book.ts'
import { startTestDaemon } from '../support/daemon.ts'
import { newPeerId } from '../support/process-daemon.ts'

describe('a graceful stop', () => {
  it('saves the address book even when stopping libp2p throws, and releases the data directory', async () => {
    const d = await startTestDaemon({ allowLoopbackAddresses: true })
    try {
      const runtime = d.core.nodes.get('peer-a')
      const handle = runtime?.handle
      if (!handle) throw new Error('peer-a has no handle')
      // the node really stops, then reports a failure, as a transport that throws on close would
      const realStop = handle.stop.bind(handle)
      handle.stop = async () => {
        await realStop()
        throw new Error('injected: a transport failed to close')
      }
      const states: string[] = []
      d.core.actors.registry.listen((c) => {
        if (c.type === 'snapshot' && c.snapshot.systemId === 'node:peer-a') states.push(JSON.stringify(c.snapshot.value))
      })
      const addr = `/ip4/127.0.0.1/tcp/4999/p2p/${await newPeerId()}`
      expect(d.core.stores.addressBook.add(addr, { source: 'dht' }).added).toBe(true)
      // no wait: the change is younger than the save delay, so only the stop's own save can hold it
      await d.close()
      expect(states).toContain('"failed"') // the stop did throw
      const saved = await AddressBook.load(join(d.dataDir, 'address-book.bin'), { allowLoopback: true })
      expect(saved.has(addr)).toBe(true)
      expect(existsSync(join(d.dataDir, 'daemon.lock'))).toBe(false)
    } finally {
      await rm(d.dataDir, { recursive: true, force: true })
    }
  })
})
