import type { Connection } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { ConnectionConfirmations, ConnectionRefusedError } from '../../src/p2p/connection-confirmations.ts'

/** libp2p's event bus and connections, as far as the service reads them. */
function setup() {
  const events = new EventTarget()
  const confirmations = new ConnectionConfirmations({ events: events as never })
  const conn = (id: string) => ({ id, status: 'open' }) as { id: string; status: string }
  const identify = (c: { id: string }) => events.dispatchEvent(new CustomEvent('peer:identify', { detail: { connection: c } }))
  const close = (c: { id: string; status: string }) => {
    c.status = 'closed'
    events.dispatchEvent(new CustomEvent('connection:close', { detail: c }))
  }
  const confirm = (conns: Array<{ id: string }>, signal = new AbortController().signal) =>
    confirmations.confirmAny(conns as unknown as Connection[], signal)
  return { conn, identify, close, confirm }
}

describe('which connections the remote accepted', () => {
  it('a connection is confirmed once the remote answered identify on it, before or after the question', async () => {
    const { conn, identify, confirm } = setup()
    const early = conn('a')
    identify(early)
    await expect(confirm([early])).resolves.toBeUndefined()
    const late = conn('b')
    const answer = confirm([late])
    identify(late)
    await expect(answer).resolves.toBeUndefined()
  })

  it('any one confirmed connection of several is enough; all of them closing unconfirmed is a refusal', async () => {
    const { conn, identify, close, confirm } = setup()
    const [a, b] = [conn('a'), conn('b')]
    const one = confirm([a, b])
    close(a)
    identify(b)
    await expect(one).resolves.toBeUndefined()
    const [c, d] = [conn('c'), conn('d')]
    const none = confirm([c, d])
    close(c)
    close(d)
    await expect(none).rejects.toBeInstanceOf(ConnectionRefusedError)
    await expect(confirm([])).rejects.toThrow('does not accept us')
  })

  it('a confirmed connection that closed counts no more, and an identify that settles after the close is ignored', async () => {
    const { conn, identify, close, confirm } = setup()
    const a = conn('a')
    identify(a)
    close(a)
    await expect(confirm([a])).rejects.toBeInstanceOf(ConnectionRefusedError)
    const b = conn('b')
    close(b)
    identify(b)
    b.status = 'open' // a stale id would now count, were it kept
    const controller = new AbortController()
    const answer = confirm([b], controller.signal)
    let settled = false
    void answer.then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    controller.abort(new Error('deadline'))
    await expect(answer).resolves.toBeUndefined()
  })

  it('at the deadline an open connection is kept (a busy remote answers late); a closed one fails with the reason', async () => {
    const { conn, confirm } = setup()
    const a = conn('a')
    const open = new AbortController()
    const kept = confirm([a], open.signal)
    open.abort(new Error('deadline'))
    await expect(kept).resolves.toBeUndefined()
    const b = conn('b')
    const gone = new AbortController()
    b.status = 'closing'
    gone.abort(new Error('deadline'))
    await expect(confirm([b], gone.signal)).rejects.toThrow('deadline')
  })
})
