import { readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ActorSnapshot } from '../../src/actors/supervisor/actor-registry.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { type ProcessDaemon, startProcessDaemon } from '../support/process-daemon.ts'

const SESSIONS = Number(process.env.SWITCHBOARD_CHURN_SESSIONS ?? 200)
/** Tabs open at once: browsers open and close several. */
const CONCURRENCY = 4

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

describe('browser sessions come and go on the default listeners (TCP, WebSockets, WebRTC-direct)', () => {
  let d: ProcessDaemon
  let observer: SwitchboardClient
  // peer-a's peer shards (at most 64, spawned on first use) stay; everything a session made must go
  const actorIds = async () =>
    (await observer.call<{ actors: ActorSnapshot[] }>('actors.list', {})).actors
      .map((a) => a.systemId)
      .filter((id) => !id.startsWith('peers:peer-a:'))
      .sort()

  beforeAll(async () => {
    d = await startProcessDaemon({ listen: LOOPBACK_DEFAULT_LISTEN })
    observer = await d.client()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it(`${SESSIONS} session peers opened and closed: no crash, fds and actors back to baseline`, async () => {
    const pid = d.child.pid as number
    // peer-a's own actors have settled once its DHT has left `idle`
    await vi.waitFor(async () => expect((await actorIds()).some((id) => id.startsWith('dht:peer-a'))).toBe(true))
    const baseActors = await actorIds()
    const baseFds = openFds(pid)

    let opened = 0
    const tab = async () => {
      while (opened < SESSIONS) {
        opened++
        const c = await d.client()
        const { peerid } = await c.call<{ peerid: string }>('peer', {})
        expect(peerid).toMatch(/^12D3KooW/)
        await c.close()
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, tab))

    // every session peer is released once its socket has closed
    await vi.waitFor(async () => expect(await actorIds()).toEqual(baseActors), { timeout: 30_000, interval: 100 })
    expect(d.child.exitCode).toBe(null)
    expect(d.child.signalCode).toBe(null)
    // libp2p keeps a few sockets of its own coming and going; a leak of one per session would be ~200
    await vi.waitFor(() => expect(openFds(pid)).toBeLessThanOrEqual(baseFds + 8), { timeout: 30_000, interval: 100 })
    expect(d.stderr()).not.toMatch(/system_error|Segmentation|terminate called/)

    const info = await observer.call<{ addrs: string[] }>('node.info', {})
    expect(info.addrs.some((a) => a.includes('/webrtc-direct/'))).toBe(true)
  })
})
