/**
 * A linear pass over a frame's bytes, before JSON.parse, that refuses frames whose shape alone would
 * be expensive: V8's JSON.parse spends seconds on a 16 MiB frame of nested brackets, and a flat array
 * of millions of elements costs hundreds of MiB to build. The pass only counts: it keeps no values.
 */

/** What the pass enforces. */
export interface FrameShapeLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number
  /** Most arrays, objects, array elements and object members, all together. */
  maxElements: number
  /**
   * Most object members: each distinct key name costs V8 a hidden-class transition and a string
   * table entry, ten times what an array element costs.
   */
  maxKeys: number
}

export type FrameShape = { ok: true; depth: number; elements: number; keys: number } | { ok: false; limit: 'depth' | 'elements' | 'keys' }

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const OPEN_OBJECT = 0x7b
const CLOSE_ARRAY = 0x5d
const CLOSE_OBJECT = 0x7d
const COMMA = 0x2c
const COLON = 0x3a
/** Bytes of a string walked one by one before the rest is searched natively: short strings are common, long ones cheap. */
const SHORT_STRING = 32

/**
 * Measure `bytes` (UTF-8 JSON text; a multi-byte character never contains an ASCII byte) and stop at
 * the first limit passed. Counts structure outside strings only; malformed text is left to JSON.parse,
 * which reports it. Cost: one pass; long strings are skipped by native searches.
 */
export function frameShape(bytes: Buffer, limits: FrameShapeLimits): FrameShape {
  const n = bytes.length
  let depth = 0
  let deepest = 0
  let elements = 0
  let keys = 0
  // the next backslash at or after some point, searched natively and again only once passed, so
  // long strings cost one search each and the whole pass stays linear; -1: none left, -2: not searched
  let nextBackslash = -2
  for (let i = 0; i < n; i++) {
    const c = bytes[i] as number
    if (c === QUOTE) {
      let j = i + 1
      let end = -1
      const shortEnd = Math.min(n, j + SHORT_STRING)
      for (; j < shortEnd; j++) {
        const s = bytes[j] as number
        if (s === QUOTE) {
          end = j
          break
        }
        if (s === BACKSLASH) break
      }
      if (end < 0 && j === shortEnd && j < n) {
        const quote = bytes.indexOf(QUOTE, j)
        const quoteOrEnd = quote < 0 ? n : quote
        if (nextBackslash !== -1 && nextBackslash < j) nextBackslash = bytes.indexOf(BACKSLASH, j)
        if (nextBackslash === -1 || nextBackslash >= quoteOrEnd) end = quoteOrEnd
        else j = nextBackslash
      }
      if (end < 0) {
        // escapes: walk the rest of the string byte by byte
        for (; j < n; j++) {
          const s = bytes[j] as number
          if (s === BACKSLASH) j += 1
          else if (s === QUOTE) break
        }
        end = j
      }
      i = end
      continue
    }
    if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth += 1
      if (depth > limits.maxDepth) return { ok: false, limit: 'depth' }
      if (depth > deepest) deepest = depth
      elements += 1
    } else if (c === COMMA) {
      elements += 1
    } else if (c === COLON) {
      keys += 1
      if (keys > limits.maxKeys) return { ok: false, limit: 'keys' }
      continue
    } else {
      if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth -= 1
      continue
    }
    if (elements > limits.maxElements) return { ok: false, limit: 'elements' }
  }
  return { ok: true, depth: deepest, elements, keys }
}
