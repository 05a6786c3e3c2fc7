/**
 * MIME types for stored files: from the first bytes (the WHATWG sniffing table, in the exact form and
 * order Go's `http.DetectContentType` uses, so p2p-webapp peers and we label the same bytes the
 * same way), refined by the file name where the bytes alone say little (text, unknown binary).
 */

/** Bytes the content sniffer looks at, as in Go. */
export const SNIFF_BYTES = 512

export const OCTET_STREAM = 'application/octet-stream'
const TEXT_UTF8 = 'text/plain; charset=utf-8'

type Sig = (data: Uint8Array, firstNonWs: number) => string | undefined

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))
const isWs = (b: number) => b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x20

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false
  return true
}

const exact =
  (sig: string, type: string): Sig =>
  (data) =>
    startsWith(data, bytes(sig)) ? type : undefined

function masked(pattern: string, mask: string, type: string, skipWs = false): Sig {
  const pat = bytes(pattern)
  const msk = bytes(mask)
  return (data, firstNonWs) => {
    const d = skipWs ? data.subarray(firstNonWs) : data
    if (d.length < pat.length) return undefined
    for (let i = 0; i < pat.length; i++) if (((d[i] ?? 0) & (msk[i] ?? 0)) !== pat[i]) return undefined
    return type
  }
}

/** An HTML tag: case-insensitive after leading whitespace, then a space or `>`. */
function html(tag: string): Sig {
  const sig = bytes(tag)
  return (data, firstNonWs) => {
    const d = data.subarray(firstNonWs)
    if (d.length < sig.length + 1) return undefined
    for (let i = 0; i < sig.length; i++) {
      const s = sig[i] ?? 0
      let b = d[i] ?? 0
      if (s >= 0x41 && s <= 0x5a) b &= 0xdf
      if (s !== b) return undefined
    }
    const next = d[sig.length]
    return next === 0x20 || next === 0x3e ? 'text/html; charset=utf-8' : undefined
  }
}

const mp4: Sig = (data) => {
  if (data.length < 12) return undefined
  const box = ((data[0] ?? 0) << 24) | ((data[1] ?? 0) << 16) | ((data[2] ?? 0) << 8) | (data[3] ?? 0)
  if (box < 0 || data.length < box || box % 4 !== 0) return undefined
  if (!startsWith(data.subarray(4), bytes('ftyp'))) return undefined
  for (let st = 8; st < box; st += 4) {
    if (st === 12) continue // the major brand's version number
    if (startsWith(data.subarray(st), bytes('mp4'))) return 'video/mp4'
  }
  return undefined
}

const text: Sig = (data, firstNonWs) => {
  for (let i = firstNonWs; i < data.length; i++) {
    const b = data[i] ?? 0
    if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return undefined
  }
  return TEXT_UTF8
}

const Z34 = '\x00'.repeat(34)
const RIFF_MASK = '\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF'

const SIGNATURES: Sig[] = [
  ...[
    '<!DOCTYPE HTML',
    '<HTML',
    '<HEAD',
    '<SCRIPT',
    '<IFRAME',
    '<H1',
    '<DIV',
    '<FONT',
    '<TABLE',
    '<A',
    '<STYLE',
    '<TITLE',
    '<B',
    '<BODY',
    '<BR',
    '<P',
    '<!--',
  ].map(html),
  masked('<?xml', '\xFF\xFF\xFF\xFF\xFF', 'text/xml; charset=utf-8', true),
  exact('%PDF-', 'application/pdf'),
  exact('%!PS-Adobe-', 'application/postscript'),
  masked('\xFE\xFF\x00\x00', '\xFF\xFF\x00\x00', 'text/plain; charset=utf-16be'),
  masked('\xFF\xFE\x00\x00', '\xFF\xFF\x00\x00', 'text/plain; charset=utf-16le'),
  masked('\xEF\xBB\xBF\x00', '\xFF\xFF\xFF\x00', TEXT_UTF8),
  exact('\x00\x00\x01\x00', 'image/x-icon'),
  exact('\x00\x00\x02\x00', 'image/x-icon'),
  exact('BM', 'image/bmp'),
  exact('GIF87a', 'image/gif'),
  exact('GIF89a', 'image/gif'),
  masked('RIFF\x00\x00\x00\x00WEBPVP', `${RIFF_MASK}\xFF\xFF`, 'image/webp'),
  exact('\x89PNG\x0D\x0A\x1A\x0A', 'image/png'),
  exact('\xFF\xD8\xFF', 'image/jpeg'),
  masked('FORM\x00\x00\x00\x00AIFF', RIFF_MASK, 'audio/aiff'),
  masked('ID3', '\xFF\xFF\xFF', 'audio/mpeg'),
  masked('OggS\x00', '\xFF\xFF\xFF\xFF\xFF', 'application/ogg'),
  masked('MThd\x00\x00\x00\x06', '\xFF'.repeat(8), 'audio/midi'),
  masked('RIFF\x00\x00\x00\x00AVI ', RIFF_MASK, 'video/avi'),
  masked('RIFF\x00\x00\x00\x00WAVE', RIFF_MASK, 'audio/wave'),
  mp4,
  exact('\x1A\x45\xDF\xA3', 'video/webm'),
  masked(`${Z34}LP`, `${Z34}\xFF\xFF`, 'application/vnd.ms-fontobject'),
  exact('\x00\x01\x00\x00', 'font/ttf'),
  exact('OTTO', 'font/otf'),
  exact('ttcf', 'font/collection'),
  exact('wOFF', 'font/woff'),
  exact('wOF2', 'font/woff2'),
  exact('\x1F\x8B\x08', 'application/x-gzip'),
  exact('PK\x03\x04', 'application/zip'),
  exact('Rar!\x1A\x07\x00', 'application/x-rar-compressed'),
  exact('Rar!\x1A\x07\x01\x00', 'application/x-rar-compressed'),
  exact('\x00\x61\x73\x6D', 'application/wasm'),
  text,
]

/** The MIME type of content from its first bytes; the same answer as Go's http.DetectContentType. */
export function detectContentType(content: Uint8Array): string {
  const data = content.length > SNIFF_BYTES ? content.subarray(0, SNIFF_BYTES) : content
  let firstNonWs = 0
  while (firstNonWs < data.length && isWs(data[firstNonWs] ?? 0)) firstNonWs++
  for (const sig of SIGNATURES) {
    const type = sig(data, firstNonWs)
    if (type !== undefined) return type
  }
  return OCTET_STREAM
}

/** Extensions whose type the bytes cannot tell (text formats, some binaries); web apps rely on these. */
const BY_EXTENSION: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  webmanifest: 'application/manifest+json',
  md: 'text/markdown; charset=utf-8',
  txt: TEXT_UTF8,
  csv: 'text/csv; charset=utf-8',
  xml: 'text/xml; charset=utf-8',
  svg: 'image/svg+xml',
  wasm: 'application/wasm',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  mp3: 'audio/mpeg',
  mp4: 'video/mp4',
  webm: 'video/webm',
  ogg: 'application/ogg',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/x-gzip',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
}

export function mimeFromName(name: string): string | undefined {
  const dot = name.lastIndexOf('.')
  if (dot < 0 || dot === name.length - 1) return undefined
  return BY_EXTENSION[name.slice(dot + 1).toLowerCase()]
}

/** Sniffed types that only say "some text" or "some bytes": a known extension says more. */
const GENERIC = new Set([TEXT_UTF8, OCTET_STREAM, 'text/xml; charset=utf-8'])

/**
 * A file's type from its first bytes and its name: a specific sniffed type wins (the bytes do not
 * lie about a PNG); generic text or binary gives way to a known extension (`app.js`, `data.json`).
 * Empty content says nothing, so the name decides or it is octet-stream, as p2p-webapp lists it.
 */
export function sniffMime(head: Uint8Array, name?: string): string {
  const byName = name === undefined ? undefined : mimeFromName(name)
  if (head.length === 0) return byName ?? OCTET_STREAM
  const sniffed = detectContentType(head)
  if (byName !== undefined && GENERIC.has(sniffed)) return byName
  return sniffed
}
