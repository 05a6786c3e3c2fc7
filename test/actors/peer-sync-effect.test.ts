import { describe, expect, it } from 'vitest'
import { createActor, createMachine, type EventObject } from 'xstate'
import { peerActors } from '../../src/actors/peer/peer.actors.ts'
import type { NodeRuntimes } from '../../src/actors/node/node-runtimes.ts'

describe('the peer actor sync effect', () => {
  it('a runner that throws at once (the node stopping under it) fails the sync, and the process keeps no uncaught error', async () => {
    const { sync } = peerActors({} as NodeRuntimes, () => {
      throw new Error('local node peer-a is not running')
    })
    const got: EventObject[] = []
    const parent = createActor(
      createMachine({
        invoke: { src: sync, input: { alias: 'peer-a', peerId: 'p' } },
        on: { '*': { actions: ({ event }) => got.push(event) } },
      }),
    )
    parent.start()
    await new Promise<void>((resolve) => {
      const check = () => (got.length > 0 ? resolve() : setImmediate(check))
      check()
    })
    expect(got).toEqual([{ type: 'peer.syncFailed', error: 'local node peer-a is not running' }])
    parent.stop()
  })
})
