import { describe, expect, it } from 'vitest'
import { decodeTopicPayload, encodeTopicPayload } from '../../src/p2p/topic-payload.ts'

const utf8 = new TextEncoder()

describe('topic payloads', () => {
  it('JSON as before (no encoding, a BOM skipped), other UTF-8 as text byte for byte, anything else as base64', () => {
    expect(decodeTopicPayload(utf8.encode('{"a":[1,"é"]}'))).toEqual({ data: { a: [1, 'é'] } })
    expect(decodeTopicPayload(utf8.encode(' 42 '))).toEqual({ data: 42 })
    expect(decodeTopicPayload(utf8.encode('\uFEFF{"bom":true}'))).toEqual({ data: { bom: true } })
    expect(decodeTopicPayload(utf8.encode('\uFEFFplain'))).toEqual({ data: '\uFEFFplain', encoding: 'text' })
    expect(decodeTopicPayload(utf8.encode('hello'))).toEqual({ data: 'hello', encoding: 'text' })
    expect(decodeTopicPayload(new Uint8Array())).toEqual({ data: '', encoding: 'text' })
    // JSON text around bytes that are not UTF-8 is not JSON (RFC 8259 is UTF-8): the bytes, untouched
    const broken = new Uint8Array([0x22, 0xc3, 0x28, 0x22])
    expect(decodeTopicPayload(broken)).toEqual({ data: Buffer.from(broken).toString('base64'), encoding: 'base64' })
    const sub = new Uint8Array([9, 0xff, 0xfe, 9]).subarray(1, 3)
    expect(decodeTopicPayload(sub)).toEqual({ data: '//4=', encoding: 'base64' })
  })

  it('encodes JSON values as their JSON text, text as UTF-8 and base64 as its bytes; refuses the rest naming data', () => {
    expect(encodeTopicPayload({ a: 'é' })).toEqual(utf8.encode('{"a":"é"}'))
    expect(encodeTopicPayload('s')).toEqual(utf8.encode('"s"'))
    expect(encodeTopicPayload('s ✓', 'text')).toEqual(utf8.encode('s ✓'))
    expect(encodeTopicPayload('//4=', 'base64')).toEqual(new Uint8Array([0xff, 0xfe]))
    expect(() => encodeTopicPayload(1, 'text')).toThrow(/^data: must be a string/)
    expect(() => encodeTopicPayload('a b', 'base64')).toThrow(/^data: is not valid base64/)
  })

  it('text and base64 payloads come back byte for byte when a client publishes what it got', () => {
    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(n % 17).map((_, i) => (n * 31 + i * 7) % 256)
      const { data, encoding } = decodeTopicPayload(bytes)
      expect(encoding).toBeDefined()
      expect(encodeTopicPayload(data, encoding)).toEqual(bytes)
    }
  })
})
