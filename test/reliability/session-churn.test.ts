import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SwitchboardClient } from '../../src/client/switchboard-client.ts'
import { LOOPBACK_DEFAULT_LISTEN } from '../support/listen.ts'
import { type ProcessDaemon, startProcessDaemon } from '../support/process-daemon.ts'
import { actorIds, churnSessions, openFds } from '../support/session-churn.ts'

const SESSIONS = Number(process.env.SWITCHBOARD_CHURN_SESSIONS ?? 200)

describe('browser sessions come and go on the default transports (TCP, WebSockets, WebRTC-direct)', () => {
  let d: ProcessDaemon
  let observer: SwitchboardClient

  beforeAll(async () => {
    d = await startProcessDaemon({ listen: LOOPBACK_DEFAULT_LISTEN })
    observer = await d.client()
  })
  afterAll(async () => {
    await d?.destroy()
  })

  it(`${SESSIONS} session peers opened and closed: no crash, fds and actors back to baseline`, async () => {
    const pid = d.child.pid as number
    // peer-a's own actors have settled once its DHT actor exists
    await vi.waitFor(async () => expect((await actorIds(observer)).includes('dht:peer-a')).toBe(true))
    const baseActors = await actorIds(observer)
    const baseFds = openFds(pid)

    expect(await churnSessions(d, { sessions: SESSIONS, concurrency: 4 })).toBe(SESSIONS)

    // every session peer is released once its socket has closed
    await vi.waitFor(async () => expect(await actorIds(observer)).toEqual(baseActors), { timeout: 30_000, interval: 100 })
    expect(d.child.exitCode).toBe(null)
    expect(d.child.signalCode).toBe(null)
    // libp2p keeps a few sockets of its own coming and going; a leak of one per session would be ~200
    await vi.waitFor(() => expect(openFds(pid)).toBeLessThanOrEqual(baseFds + 8), { timeout: 30_000, interval: 100 })
    expect(d.stderr()).not.toMatch(/system_error|Segmentation|terminate called/)

    const info = await observer.call<{ addrs: string[] }>('node.info', {})
    expect(info.addrs.some((a) => a.includes('/webrtc-direct/'))).toBe(true)
  })
})
