import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { JoinWhenSendable } from '../../src/actors/topic/join-when-sendable.ts'

describe('a topic join is reported once GossipSub can send to the peer', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('waits for the outbound stream, reports once, and drops a peer that left meanwhile', async () => {
    const streamsOutbound = new Map<string, unknown>([['ready', {}]])
    const joined: string[] = []
    const joins = new JoinWhenSendable({ streamsOutbound }, (p) => joined.push(p))
    joins.add('ready')
    joins.add('later')
    joins.add('later')
    joins.add('leaves')
    expect(joined).toEqual(['ready'])
    await vi.advanceTimersByTimeAsync(200)
    expect(joined).toEqual(['ready'])
    joins.cancel('leaves')
    streamsOutbound.set('later', {})
    streamsOutbound.set('leaves', {})
    await vi.advanceTimersByTimeAsync(20)
    expect(joined).toEqual(['ready', 'later'])
    await vi.advanceTimersByTimeAsync(10_000)
    expect(joined).toEqual(['ready', 'later'])
  })

  it('reports a peer whose stream never opens after 5 s, and nothing after stop', async () => {
    const joined: string[] = []
    const joins = new JoinWhenSendable({ streamsOutbound: new Map() }, (p) => joined.push(p))
    joins.add('slow')
    await vi.advanceTimersByTimeAsync(4_900)
    expect(joined).toEqual([])
    await vi.advanceTimersByTimeAsync(200)
    expect(joined).toEqual(['slow'])
    joins.add('never')
    joins.stop()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(joined).toEqual(['slow'])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('reports at once on a pubsub without outbound streams to read', () => {
    const joined: string[] = []
    new JoinWhenSendable({}, (p) => joined.push(p)).add('p')
    expect(joined).toEqual(['p'])
  })
})
