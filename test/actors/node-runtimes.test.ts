import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { type NodeComponents, NodeNotRunningError, NodeRuntimes, type SharedServices } from '../../src/actors/node/node-runtimes.ts'
import { KnownPeers } from '../../src/p2p/known-peers.ts'
import type { NodeHandle } from '../../src/p2p/node-factory.ts'

/** The runtimes only hand the handle on to factories; these tests need no live node behind it. */
const fakeHandle = { libp2p: { peerId: 'fake' } } as unknown as NodeHandle
const shared = {} as SharedServices

async function runtimeWith<S extends Record<string, { stop?(): void }>>(runtimes: NodeRuntimes<S>) {
  const runtime = runtimes.register(
    {
      alias: 'peer-x',
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      bootstrap: [],
      mdns: false,
      dhtProtocol: '/test',
      allowPrivateAddresses: true,
    },
    KnownPeers.inMemory(),
  )
  runtime.handle = fakeHandle
  return runtime
}

describe('node services', () => {
  it('are built in registration order from the components they ask for, typed by name, and stopped in reverse', async () => {
    const log: string[] = []
    const service = (name: string) => (c: Pick<NodeComponents, 'alias' | 'storageDir'>) => {
      log.push(`start ${name} on ${c.alias} (${c.storageDir ?? 'no storage'})`)
      return { name, stop: () => void log.push(`stop ${name}`) }
    }
    const runtimes = new NodeRuntimes(shared, { first: service('first'), second: service('second') })
    const runtime = await runtimeWith(runtimes)
    await runtimes.startServices(runtime)
    // typed without a cast: the registry's keys are the record's keys
    expect(runtimes.services('peer-x').second.name).toBe('second')
    await runtimes.stopServices(runtime)
    expect(log).toEqual(['start first on peer-x (no storage)', 'start second on peer-x (no storage)', 'stop second', 'stop first'])
    expect(() => runtimes.services('peer-x')).toThrow(NodeNotRunningError)
  })

  it('one that fails to start stops those already started, and the node has no services', async () => {
    const stopped: string[] = []
    const runtimes = new NodeRuntimes(shared, {
      ok: () => ({ stop: () => void stopped.push('ok') }),
      broken: async (): Promise<{ stop(): void }> => {
        throw new Error('cannot open its store')
      },
    })
    const runtime = await runtimeWith(runtimes)
    await expect(runtimes.startServices(runtime)).rejects.toThrow('cannot open its store')
    expect(stopped).toEqual(['ok'])
    expect(() => runtimes.services('peer-x')).toThrow(NodeNotRunningError)
  })

  it('a service whose stop throws does not keep the others running', async () => {
    const stopped: string[] = []
    const runtimes = new NodeRuntimes(shared, {
      a: () => ({ stop: () => void stopped.push('a') }),
      b: () => ({
        stop: () => {
          throw new Error('stuck')
        },
      }),
    })
    const runtime = await runtimeWith(runtimes)
    await runtimes.startServices(runtime)
    await runtimes.stopServices(runtime)
    expect(stopped).toEqual(['a'])
  })
})
