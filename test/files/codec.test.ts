import { describe, expect, it } from 'vitest'
import { encodeFileContent, encodeFileList } from '../../src/actors/files/p2p-webapp.ts'
import { encodeFrame, goJson, goMap, MessageType } from '../../src/p2p/files/frame-codec.ts'
import { detectContentType, sniffMime } from '../../src/p2p/files/mime.ts'

const bin = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))

describe("MIME sniffing gives Go's http.DetectContentType answers", () => {
  it.each([
    ['', 'text/plain; charset=utf-8'],
    ['\x01\x02\x03', 'application/octet-stream'],
    ['<HtMl><bOdY>blah blah blah</body></html>', 'text/html; charset=utf-8'],
    ['\n\t <html>x', 'text/html; charset=utf-8'],
    ['<!-- comment -->', 'text/html; charset=utf-8'],
    ['<a href="x">', 'text/html; charset=utf-8'],
    ['<br>', 'text/html; charset=utf-8'],
    ['<ab>', 'text/plain; charset=utf-8'],
    ['  <?xml version="1.0"?>', 'text/xml; charset=utf-8'],
    ['%PDF-1.4', 'application/pdf'],
    ['%!PS-Adobe-3.0', 'application/postscript'],
    ['\xFE\xFF\x00H\x00i', 'text/plain; charset=utf-16be'],
    ['\xFF\xFEH\x00i\x00', 'text/plain; charset=utf-16le'],
    ['\xEF\xBB\xBFhi', 'text/plain; charset=utf-8'],
    ['GIF89a...', 'image/gif'],
    ['\x89PNG\x0D\x0A\x1A\x0A....', 'image/png'],
    ['\xFF\xD8\xFF\xE0', 'image/jpeg'],
    ['BM....', 'image/bmp'],
    ['RIFF\x00\x00\x00\x00WEBPVP8 ', 'image/webp'],
    ['ID3\x03', 'audio/mpeg'],
    ['OggS\x00\x02', 'application/ogg'],
    ['RIFF\x10\x00\x00\x00WAVEfmt ', 'audio/wave'],
    ['\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom<\x06t\xbfmdat', 'video/mp4'],
    ['\x1A\x45\xDF\xA3\x01', 'video/webm'],
    ['wOF2....', 'font/woff2'],
    ['\x1F\x8B\x08\x00', 'application/x-gzip'],
    ['PK\x03\x04', 'application/zip'],
    ['\x00\x61\x73\x6D\x01\x00', 'application/wasm'],
  ])('%j -> %s', (data, type) => {
    expect(detectContentType(bin(data))).toBe(type)
  })

  it('looks at the first 512 bytes only', () => {
    expect(detectContentType(bin(`${'a'.repeat(512)}\x00`))).toBe('text/plain; charset=utf-8')
    expect(detectContentType(bin(`${'a'.repeat(511)}\x00`))).toBe('application/octet-stream')
  })

  it('lets a known extension refine generic text or bytes, never a specific sniffed type', () => {
    expect(sniffMime(bin('{"a":1}'), 'data.json')).toBe('application/json')
    expect(sniffMime(bin('body{}'), 'site.CSS')).toBe('text/css; charset=utf-8')
    expect(sniffMime(bin('\x89PNG\x0D\x0A\x1A\x0A'), 'notes.txt')).toBe('image/png')
    expect(sniffMime(bin('<?xml version="1.0"?><svg/>'), 'icon.svg')).toBe('image/svg+xml')
    expect(sniffMime(bin(''), 'empty')).toBe('application/octet-stream')
    expect(sniffMime(bin(''), 'style.css')).toBe('text/css; charset=utf-8')
  })
})

describe("frames and JSON as Go's encoding/json writes them", () => {
  it('escapes <, >, & and the JS line separators; leaves other text alone', () => {
    expect(goJson({ s: '<a href="x">&amp;</a>\u2028\u2029é\n' })).toBe(
      '{"s":"\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e\\u2028\\u2029é\\n"}',
    )
  })

  it('orders map keys by their UTF-8 bytes (Go), not UTF-16 units (JS)', () => {
    const astral = '\u{1F600}'
    const high = '\uFFFD'
    expect(Object.keys(goMap({ [astral]: 1, [high]: 2, b: 3, a: 4 }))).toEqual(['a', 'b', high, astral])
  })

  it('writes getFileList as the type byte alone and others as type, u32 length, JSON', () => {
    expect([...encodeFrame(MessageType.getFileList)]).toEqual([0])
    expect([...encodeFrame(MessageType.getFile, '{"cid":"x"}')]).toEqual([2, 0, 0, 0, 11, ...Buffer.from('{"cid":"x"}')])
  })

  it('encodes replies in the field order Go produces', () => {
    expect(
      encodeFileList({
        cid: 'R',
        entries: { 'b.txt': { type: 'file', cid: 'B', mimeType: 'text/plain' }, a: { type: 'directory', cid: 'A' } },
      }),
    ).toBe('{"cid":"R","entries":{"a":{"type":"directory","cid":"A"},"b.txt":{"type":"file","cid":"B","mimeType":"text/plain"}}}')
    expect(encodeFileContent({ cid: 'C', isDirectory: false, content: 'eA==', mimeType: 'text/plain', rawNode: 'eA==' })).toBe(
      '{"cid":"C","content":"eA==","isDirectory":false,"mimeType":"text/plain","rawNode":"eA=="}',
    )
    expect(encodeFileContent({ cid: 'D', isDirectory: true, entries: { z: '1', a: '2' }, rawNode: 'AA==' })).toBe(
      '{"cid":"D","entries":{"a":"2","z":"1"},"isDirectory":true,"rawNode":"AA=="}',
    )
    expect(encodeFileContent({ cid: 'E', error: 'file not found: x' })).toBe('{"cid":"E","error":"file not found: x"}')
  })
})
