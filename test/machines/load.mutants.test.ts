import { describe, expect, it } from 'vitest'

/**
 * Every machine module loads: xstate builds the machine when the module is imported and refuses a broken
 * definition (an unknown target, initial state or delay), which would stop the daemon at startup. Imported
 * inside the tests on purpose: a test file whose static import throws collects no tests, and Stryker's
 * vitest runner counts that as a surviving mutant rather than a failure (npm run mutate).
 */
const modules = {
  supervisor: () => import('../../src/machines/supervisor/supervisor.machine.ts'),
  node: () => import('../../src/machines/node/node.machine.ts'),
  dht: () => import('../../src/machines/dht/dht.machine.ts'),
  peers: () => import('../../src/machines/peers/peers.machine.ts'),
  peer: () => import('../../src/machines/peer/peer.machine.ts'),
  topic: () => import('../../src/machines/topic/topic.machine.ts'),
  channel: () => import('../../src/machines/channel/channel.machine.ts'),
  presence: () => import('../../src/machines/presence/presence.machine.ts'),
  pruner: () => import('../../src/machines/pruner/pruner.machine.ts'),
  pairing: () => import('../../src/machines/pairing/pairing.machine.ts'),
}

describe('machine modules', () => {
  for (const [kind, load] of Object.entries(modules)) {
    it(`${kind} loads and builds its machine`, async () => {
      const module = (await load()) as Record<string, unknown>
      const machine = module[`${kind}Machine`] as { id?: string; root?: { states?: object } } | undefined
      expect(machine?.id).toBe(kind)
      expect(Object.keys(machine?.root?.states ?? {}).length).toBeGreaterThan(0)
    })
  }
})
