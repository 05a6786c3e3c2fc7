import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from 'xstate'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts'
import { watchActors } from '../support/watch-actors.ts'

describe('a crash of the persistent peer', () => {
  let d: TestDaemon
  let watcher: SwitchboardClient
  beforeAll(async () => {
    d = await startTestDaemon()
    watcher = await d.client()
  })
  afterAll(async () => {
    await d.destroy()
  })

  it('is seen, restarted by the supervisor with the same identity, and takes the session peers on its stores down with it', async () => {
    const tab = await d.client()
    const { peerid } = await tab.call<{ peerid: string }>('peer', {})
    const alias = d.core.nodes.aliasOfPeerId(peerid) as string
    const watch = await watchActors(watcher, 'node:')
    const before = d.core.nodes.handle('peer-a').libp2p

    // libp2p stops by itself: nobody asked the node to
    await before.stop()

    // the node reports the crash, the supervisor starts it again...
    const crashed = await watch.until('node:peer-a', (s) => s.value === 'failed' || s.value === 'stopping')
    expect(crashed.context).toMatchObject({ error: 'libp2p stopped unexpectedly' })
    await waitFor(
      d.core.actors.supervisor,
      (s) => s.context.nodes['peer-a']?.restarts === 1 && s.context.nodes['peer-a']?.status === 'running',
    )
    const node = d.core.actors.lookup.node('peer-a')
    await waitFor(node as never, (s: { value: unknown }) => s.value === 'running')
    const after = d.core.nodes.handle('peer-a').libp2p
    expect(after).not.toBe(before)
    expect(after.peerId.toString()).toBe(d.peerId)
    await expect(watcher.call<{ alias: string }>('node.info')).resolves.toMatchObject({ alias: 'peer-a', peerid: d.peerId })

    // ...and the session peer that kept its blocks in peer-a's stores was stopped, not left on closed ones
    await watch.until(`node:${alias}`, (s) => s.value === 'stopped')
    expect(d.core.nodes.get(alias)).toBeUndefined()
    watch.stop()
  })
})
