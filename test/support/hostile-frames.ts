import WebSocket from 'ws'
import { defaultConfig } from '../../src/config.ts'

/** One hostile frame: what is sent, and how the daemon must end it. */
export interface HostileFrame {
  name: string
  data: Buffer
  /** Sent as a binary frame. */
  binary?: boolean
  /** The close code the daemon must answer it with; otherwise it must answer with a response frame. */
  closes?: number
}

export interface HostileFrameLimits {
  /** The daemon's maxFrameBytes. */
  maxFrameBytes: number
  /** The daemon's maxFrameElements. */
  maxFrameElements: number
  /** The daemon's maxFrameKeys. */
  maxFrameKeys: number
}

/** The deepest nesting the daemon accepts (protocol.md). */
const MAX_DEPTH = 64
/** Bytes left for the envelope around a payload sized to the frame limit. */
const ENVELOPE = 512

const frame = (requestid: number, method: string, params: string) => `{"requestid":${requestid},"method":"${method}","params":${params}}`

/** `count` copies of `unit` joined by `sep` (no intermediate array of millions of strings). */
const repeat = (unit: string, count: number, sep = ',') => (count <= 0 ? '' : `${unit}${`${sep}${unit}`.repeat(count - 1)}`)

/**
 * The worst frames for a daemon with `limits`: each just under a limit (so it is parsed and
 * validated) or just over it (so it is refused), plus malformed, binary, invalid UTF-8 and oversized
 * ones. Every payload is as large as the frame limit allows.
 */
export function hostileFrames(limits: HostileFrameLimits): HostileFrame[] {
  const bytes = limits.maxFrameBytes - ENVELOPE
  // the envelope and params objects take a few elements of the budget
  const elements = limits.maxFrameElements - 16
  const text = (name: string, s: string): HostileFrame => ({ name, data: Buffer.from(s) })
  const publish = (data: string) => frame(1, 'publish', `{"topic":"hostile","data":${data}}`)
  const deepUnit = `${'['.repeat(MAX_DEPTH - 4)}${']'.repeat(MAX_DEPTH - 4)}`
  const deepCopies = Math.min(Math.floor(bytes / (deepUnit.length + 1)), Math.floor(elements / (MAX_DEPTH - 3)))
  // the envelope and params objects take a few keys of the budget too
  const keys = Math.min(limits.maxFrameKeys - 8, elements, Math.floor(bytes / 12))
  const manyKeys = `{${Array.from({ length: keys }, (_, i) => `"k${i.toString(36)}":0`).join(',')}}`
  // every key name different, ten to an object: each object needs hidden classes of its own
  const distinctKeys = `[${Array.from({ length: Math.floor(keys / 10) }, (_, o) => `{${Array.from({ length: 10 }, (_, k) => `"o${o.toString(36)}_${k}":0`).join(',')}}`).join(',')}]`
  const keysOver = `{${Array.from({ length: Math.min(Math.floor(bytes / 12), limits.maxFrameKeys * 2) }, (_, i) => `"k${i.toString(36)}":0`).join(',')}}`
  const invalidUtf8 = Buffer.from(frame(1, 'publish', '{"topic":"hostile","data":"xx"}'))
  // the two x of the data string become bytes no UTF-8 text may hold
  invalidUtf8[invalidUtf8.length - 5] = 0xff
  invalidUtf8[invalidUtf8.length - 4] = 0xfe
  const content = Buffer.alloc(Math.floor((bytes * 3) / 4 / 3) * 3).toString('base64')
  return [
    text('deep-just-under', publish(`[${repeat(deepUnit, deepCopies)}]`)),
    text(
      'deep-over',
      frame(1, 'publish', `{"topic":"hostile","data":${'['.repeat(Math.floor(bytes / 2))}${']'.repeat(Math.floor(bytes / 2))}}`),
    ),
    text('flat-numbers-just-under', publish(`[${repeat('0', elements)}]`)),
    text('flat-numbers-over', publish(`[${repeat('0', Math.floor(bytes / 2))}]`)),
    text('flat-objects-just-under', publish(`[${repeat('{}', Math.floor(elements / 2))}]`)),
    text('flat-arrays-over', publish(`[${repeat('[]', Math.floor(bytes / 3))}]`)),
    text('many-keys-params', frame(1, 'actors.send', manyKeys)),
    text(
      'many-keys-event',
      frame(1, 'actors.send', `{"systemId":"dht:peer-a","event":${manyKeys.replace('{', '{"type":"dht.bootstrap",')}}`),
    ),
    text('many-keys-data', publish(manyKeys)),
    text('distinct-keys-just-under', publish(distinctKeys)),
    text('keys-over', publish(keysOver)),
    text('duplicate-keys', publish(`{${repeat('"__proto__":{"a":1}', Math.floor(Math.min(keys / 2, elements / 2, bytes / 20)))}}`)),
    text('huge-string', publish(`"${'a'.repeat(bytes)}"`)),
    text('huge-method-name', frame(1, 'x'.repeat(bytes), '{}')),
    text('escapes', publish(`"${'\\u0041\\"\\\\'.repeat(Math.floor(bytes / 10))}"`)),
    text('lone-surrogates', publish(`"${'\\ud800'.repeat(Math.floor(bytes / 6))}"`)),
    text('multibyte-string', publish(`"${'é€😀'.repeat(Math.floor(bytes / 9))}"`)),
    text(
      'giant-exponents',
      publish(
        `[${repeat('1e999999999,-1e-999999999,123456789012345678901234567890e308', Math.floor(Math.min(elements / 3, bytes / 62)))}]`,
      ),
    ),
    text('long-number', publish(`1${'0'.repeat(bytes)}`)),
    text('whitespace', publish(`${' '.repeat(bytes)}0`)),
    text('storefile-at-limit', frame(1, 'storefile', `{"path":"hostile.bin","content":"${content}"}`)),
    text('unterminated-string', `{"requestid":1,"method":"publish","params":{"topic":"hostile","data":"${'a'.repeat(bytes)}`),
    text('not-json', `{${'x'.repeat(bytes)}`),
    { name: 'binary', data: Buffer.alloc(bytes, 0x5b), binary: true },
    { name: 'invalid-utf8', data: invalidUtf8, closes: 1007 },
    // the flat array of millions of elements: far over the byte limit, refused by its length alone
    { name: 'oversized-millions-of-elements', data: Buffer.from(`[${repeat('0', 2 * limits.maxFrameBytes)}]`), closes: 1009 },
  ]
}

export interface HostileFrameOptions {
  wsUrl: string
  token: string
  /** How long to keep firing (ms). */
  durationMs: number
  /** Connections firing at once, each one frame at a time (default 2). */
  connections?: number
  limits?: Partial<HostileFrameLimits>
  /** How long one frame may go unanswered before it counts as a timeout (ms). */
  answerTimeoutMs?: number
  /** Only the frames of these kinds (names from hostileFrames); all by default. */
  kinds?: string[]
  signal?: AbortSignal
}

export interface HostileFrameCounts {
  /** Frames sent, in total and by kind. */
  sent: number
  byKind: Record<string, number>
  /** Response frames by error code ('ok' for a result). */
  answered: Record<string, number>
  /** Sockets the daemon closed, by close code. */
  closed: Record<string, number>
  /** Frames that got neither a response nor the expected close in time. */
  timeouts: number
  /** Frames that ended otherwise than their kind must (a response where a close was due, or the reverse). */
  unexpected: string[]
}

const bump = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1
}

function connect(url: string, token: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      // a socket error (a reset while an oversized frame is still being sent) is followed by its close
      ws.on('error', () => {})
      resolve(ws)
    })
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** Send `f` and wait for the first response frame or the socket's close. */
function fire(
  ws: WebSocket,
  f: HostileFrame,
  timeoutMs: number,
): Promise<{ response?: { error?: { code: number } } } | { close: number } | 'timeout'> {
  return new Promise((resolve) => {
    const done = (r: { response?: { error?: { code: number } } } | { close: number } | 'timeout') => {
      clearTimeout(timer)
      ws.off('message', onMessage)
      ws.off('close', onClose)
      resolve(r)
    }
    const onMessage = (data: WebSocket.RawData) => {
      const msg = JSON.parse(String(data)) as { isresponse?: boolean; error?: { code: number } }
      if (msg.isresponse) done({ response: msg })
    }
    const onClose = (code: number) => done({ close: code })
    const timer = setTimeout(() => done('timeout'), timeoutMs)
    ws.on('message', onMessage)
    ws.on('close', onClose)
    ws.send(f.data, { binary: f.binary === true })
  })
}

/**
 * Fire hostile frames at a daemon for `durationMs` from `connections` sockets, each sending one frame,
 * waiting for its answer (or the close it must cause, then reconnecting), and going on with the next
 * kind. Resolves with what was sent and how the daemon answered.
 */
export async function fireHostileFrames(opts: HostileFrameOptions): Promise<HostileFrameCounts> {
  const defaults = defaultConfig('')
  const all = hostileFrames({
    maxFrameBytes: opts.limits?.maxFrameBytes ?? defaults.maxFrameBytes,
    maxFrameElements: opts.limits?.maxFrameElements ?? defaults.maxFrameElements,
    maxFrameKeys: opts.limits?.maxFrameKeys ?? defaults.maxFrameKeys,
  })
  const frames = opts.kinds ? all.filter((f) => opts.kinds?.includes(f.name)) : all
  if (frames.length === 0) throw new Error(`no hostile frames of kinds ${JSON.stringify(opts.kinds)}`)
  const counts: HostileFrameCounts = { sent: 0, byKind: {}, answered: {}, closed: {}, timeouts: 0, unexpected: [] }
  const until = Date.now() + opts.durationMs
  const running = () => Date.now() < until && opts.signal?.aborted !== true
  const worker = async (offset: number) => {
    let ws = await connect(opts.wsUrl, opts.token)
    try {
      for (let i = offset; running(); i++) {
        const f = frames[i % frames.length] as HostileFrame
        if (ws.readyState !== WebSocket.OPEN) ws = await connect(opts.wsUrl, opts.token)
        counts.sent += 1
        bump(counts.byKind, f.name)
        const r = await fire(ws, f, opts.answerTimeoutMs ?? 30_000)
        if (r === 'timeout') {
          counts.timeouts += 1
          ws.terminate()
        } else if ('close' in r) {
          bump(counts.closed, String(r.close))
          if (r.close !== f.closes) counts.unexpected.push(`${f.name}: closed with ${r.close}`)
        } else {
          bump(counts.answered, r.response?.error ? String(r.response.error.code) : 'ok')
          if (f.closes !== undefined) counts.unexpected.push(`${f.name}: answered instead of closed with ${f.closes}`)
        }
      }
    } finally {
      ws.terminate()
    }
  }
  const n = opts.connections ?? 2
  await Promise.all(Array.from({ length: n }, (_, i) => worker(Math.floor((i * frames.length) / n))))
  return counts
}
