import { describe, expect, it } from 'vitest'
import { PEER_SHARDS, childIds, parentSystemId, parseSystemId, shardOf, systemIds } from '../../src/machines/actor-ids.ts'

const PEER = '12D3KooWDc8JYEowqDA8AvfVVYPcdpZ1q8uzjP6M5PHHiZ99rr58'

describe('actor ids', () => {
  it('builds the systemIds docs/protocol.md fixes, byte for byte', () => {
    expect(systemIds.supervisor).toBe('supervisor')
    expect(systemIds.node('peer-a')).toBe('node:peer-a')
    expect(systemIds.dht('peer-a')).toBe('dht:peer-a')
    expect(systemIds.peers('peer-a', 7)).toBe('peers:peer-a:7')
    expect(systemIds.peer('peer-a', PEER)).toBe(`peer:peer-a:${PEER}`)
    expect(systemIds.topic('peer-b', 'chat:room/1')).toBe('topic:peer-b:chat:room/1')
    expect(systemIds.peerPrefix('peer-a')).toBe('peer:peer-a:')
    expect(childIds.dht).toBe('dht')
    expect(childIds.topic('chat:room')).toBe('topic:chat:room')
    expect(childIds.topicOf('topic:chat:room')).toBe('chat:room')
    expect(childIds.topicOf('peers:3')).toBeUndefined()
  })

  it('parses every id it builds, and nothing outside the scheme', () => {
    expect(parseSystemId('supervisor')).toEqual({ kind: 'supervisor' })
    expect(parseSystemId('node:peer-a')).toEqual({ kind: 'node', alias: 'peer-a' })
    expect(parseSystemId('dht:peer-a')).toEqual({ kind: 'dht', alias: 'peer-a' })
    expect(parseSystemId('peers:peer-a:63')).toEqual({ kind: 'peers', alias: 'peer-a', shard: 63 })
    expect(parseSystemId(`peer:peer-a:${PEER}`)).toEqual({ kind: 'peer', alias: 'peer-a', peerId: PEER })
    expect(parseSystemId('topic:peer-b:chat:room/1')).toEqual({ kind: 'topic', alias: 'peer-b', topic: 'chat:room/1' })
    for (const bad of [
      '',
      'node',
      'node:',
      `peers:peer-a:${PEER_SHARDS}`,
      'peers:peer-a:x',
      'peer:peer-a',
      'topic:peer-a:',
      'actor:peer-a',
      'dht:a:b',
    ]) {
      expect(parseSystemId(bad), bad).toBeUndefined()
    }
  })

  it('reads each parent off the scheme (the tree of docs/protocol.md)', () => {
    expect(parentSystemId('supervisor')).toBeNull()
    expect(parentSystemId('node:peer-a')).toBe('supervisor')
    expect(parentSystemId('dht:peer-a')).toBe('node:peer-a')
    expect(parentSystemId('peers:peer-a:3')).toBe('node:peer-a')
    expect(parentSystemId('topic:peer-a:chat')).toBe('node:peer-a')
    expect(parentSystemId(`peer:peer-a:${PEER}`)).toBe(`peers:peer-a:${shardOf(PEER)}`)
    expect(parentSystemId('elsewhere')).toBeNull()
  })
})
