import { describe, expect, it } from 'vitest'
import {
  checkProtocolId,
  dataFrame,
  decodeData,
  decodeMessageFrame,
  encodeMessageFrame,
  MalformedFrameError,
  messageFrameDecoder,
} from '../../src/p2p/message-codec.ts'
import { goFrame } from './support.ts'

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe('direct-message wire frames', () => {
  it('writes the frames a p2p-webapp Go peer writes, byte for byte', () => {
    // Go: json.Marshal(StreamMessage{Type: "data", ID: id, Data: []byte(`{"a":1}`)}); []byte becomes base64
    expect(dataFrame('1700000000000000000-0', '{"a":1}')).toEqual(
      goFrame('{"type":"data","id":"1700000000000000000-0","data":"eyJhIjoxfQ=="}'),
    )
    // Go: json.Marshal(StreamMessage{Type: "ack", ID: id}); Data is omitempty
    expect(encodeMessageFrame({ type: 'ack', id: 'm-1' })).toEqual(goFrame('{"type":"ack","id":"m-1"}'))
  })

  it('reads Go frames and its own, and the JSON value inside a data frame', () => {
    const decoder = messageFrameDecoder()
    const bytes = new Uint8Array([
      ...goFrame('{"type":"data","id":"9-0","data":"WzEsInR3byIse31d"}'),
      ...encodeMessageFrame({ type: 'nack', id: 'x', error: 'no listener' }),
    ])
    // split at every possible point: frames come out whole and in order
    for (let cut = 0; cut <= bytes.length; cut++) {
      const frames = [...decoder.decode(bytes.subarray(0, cut)), ...decoder.decode(bytes.subarray(cut))].map((b) => decodeMessageFrame(b))
      expect(frames).toEqual([
        { type: 'data', id: '9-0', data: 'WzEsInR3byIse31d' },
        { type: 'nack', id: 'x', error: 'no listener' },
      ])
    }
    expect(decodeData('WzEsInR3byIse31d')).toEqual([1, 'two', {}])
    expect(text(dataFrame('i', JSON.stringify('ü €')).subarray(4))).toBe(
      `{"type":"data","id":"i","data":"${Buffer.from('"ü €"').toString('base64')}"}`,
    )
  })

  it('refuses malformed frames with MalformedFrameError', () => {
    const bad = [
      'not json',
      '[1,2]',
      'null',
      '{"type":"data","id":"","data":""}',
      `{"type":"data","id":"${'x'.repeat(129)}","data":""}`,
      '{"type":"data","id":"a"}',
      '{"type":"data","id":"a","data":"!!!!"}',
      '{"type":"data","id":"a","data":"abc"}',
      '{"type":"ping","id":"a"}',
      '{"id":"a"}',
      '{"type":"ack","id":7}',
    ]
    for (const json of bad) expect(() => decodeMessageFrame(new TextEncoder().encode(json)), json).toThrow(MalformedFrameError)
    expect(() => decodeMessageFrame(Uint8Array.of(0xff, 0xfe))).toThrow(MalformedFrameError)
    expect(() => decodeData(Buffer.from('{"unterminated').toString('base64'))).toThrow(MalformedFrameError)
  })

  it('refuses a length prefix over the frame limit before reading the body', () => {
    const decoder = messageFrameDecoder(1024)
    expect(() => [...decoder.decode(Uint8Array.of(0, 0, 4, 1))]).toThrow(/length/)
    expect([...messageFrameDecoder(1024).decode(goFrame('{"type":"ack","id":"ok"}'))]).toHaveLength(1)
  })

  it('accepts protocol ids apps use and refuses the rest, naming the field', () => {
    // p2p-webapp apps use plain names such as "chat" as well as libp2p-style ids
    for (const ok of ['/chat/1.0.0', 'chat', 'chat/1.0.0', '/a', '/x-y_z/2.1.0/~!', `/${'a'.repeat(255)}`])
      expect(checkProtocolId(ok)).toBe(ok)
    for (const bad of ['', '/with space', '/tab\t', '/nl\n', '/ünicode', `/${'a'.repeat(256)}`]) {
      expect(() => checkProtocolId(bad), JSON.stringify(bad)).toThrow(/^protocol: /)
    }
  })
})
