import { describe, expect, it } from 'vitest'
import type { AnyStateNode, StateValue } from 'xstate'
import { peerMachine, peerStatus, peerStatuses, peerStatusOfTags } from '../../src/machines/peer/peer.machine.ts'

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child as AnyStateNode))]
}

/** The state value of an atomic node: 'backoff', or {connected: 'syncing'}. */
const stateValueOf = (node: AnyStateNode): StateValue =>
  node.path.slice(0, -1).reduceRight<StateValue>((inner, key) => ({ [key]: inner }), node.path.at(-1) ?? '')

const atomic = allNodes(peerMachine.root).filter((n) => n.type === 'atomic')

describe('peer status', () => {
  it('every atomic state carries exactly one status tag, and every status is shown by some state', () => {
    const shown = new Set<string>()
    for (const node of atomic) {
      const tags = peerMachine.resolveState({ value: stateValueOf(node), context: {} as never }).tags
      const statusTags = [...tags].filter((t) => t.startsWith('status:'))
      expect(statusTags, node.id).toHaveLength(1)
      shown.add(peerStatusOfTags(tags))
    }
    expect([...shown].sort()).toEqual([...peerStatuses].sort())
  })

  it('the states named like a status show that status, backoff and syncing included', () => {
    expect(peerStatus('disconnected')).toBe('disconnected')
    expect(peerStatus('connecting')).toBe('connecting')
    expect(peerStatus('backoff')).toBe('backoff')
    expect(peerStatus('failed')).toBe('failed')
    expect(peerStatus({ connected: 'idle' })).toBe('connected')
    expect(peerStatus({ connected: 'syncing' })).toBe('syncing')
    // the two states without a status of their own, as the machine tags them
    expect(peerStatus('retrying')).toBe('connecting')
    expect(peerStatus('disconnecting')).toBe('connected')
  })

  it('refuses tags without a status rather than guessing one', () => {
    expect(() => peerStatusOfTags(['dhtReady', 'status:nonsense'])).toThrow(/no status tag/)
  })
})
