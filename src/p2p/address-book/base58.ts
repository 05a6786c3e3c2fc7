/**
 * base58btc (Bitcoin's alphabet, as libp2p prints peer ids) between text and bytes, for the address
 * book's file (binary.ts keeps peer ids as their bytes). Every string over the alphabet is the
 * encoding of exactly one byte string (leading '1's are leading zero bytes, the rest is a number with
 * no leading zero digit), so decode then encode gives the text back and a key's form is a function of
 * its text alone. Limbs of 58^4 and 2^16 in doubles: ~0.3 µs for a 38-byte id, where multiformats'
 * generic codec takes 5 µs to decode and 15 µs to encode (measured on this VM).
 */

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/** The digit of each character code below 128; -1 for characters outside the alphabet. */
const DIGIT = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i
const CODE = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0))
let scratch = Buffer.allocUnsafe(64)
const B4 = 58 ** 4 // < 2^24: a limb times 2^16 stays exact in a double

/** The digit of character code `c`, or -1. */
export const base58Digit = (c: number): number => (c < 128 ? (DIGIT[c] as number) : -1)

/** The text of b[from .. to). */
export function encodeBase58(b: Uint8Array, from = 0, to = b.length): string {
  let zeros = 0
  while (from + zeros < to && b[from + zeros] === 0) zeros++
  // the number in limbs of 58^4, least significant first, fed 16 bits at a time (8 for an odd first byte)
  const limbs: number[] = []
  let k = from + zeros
  if ((to - k) % 2 === 1) {
    limbs.push(b[k] as number)
    k++
  }
  for (; k < to; k += 2) {
    let carry = ((b[k] as number) << 8) | (b[k + 1] as number)
    for (let j = 0; j < limbs.length; j++) {
      const x = (limbs[j] as number) * 65536 + carry
      carry = Math.floor(x / B4)
      limbs[j] = x - carry * B4
    }
    while (carry > 0) {
      const q = Math.floor(carry / B4)
      limbs.push(carry - q * B4)
      carry = q
    }
  }
  // the digits, most significant first, into a scratch buffer read out as one flat string
  const need = zeros + limbs.length * 4
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need)
  const out = scratch
  out.fill(49, 0, zeros)
  let n = zeros
  for (let j = limbs.length - 1; j >= 0; j--) {
    let v = limbs[j] as number
    const d0 = Math.floor(v / 195112)
    v -= d0 * 195112
    const d1 = Math.floor(v / 3364)
    v -= d1 * 3364
    const d2 = Math.floor(v / 58)
    const d3 = v - d2 * 58
    // the most significant limb without its leading zero digits (it is never 0)
    if (n > zeros || d0 > 0) out[n++] = CODE[d0] as number
    if (n > zeros || d1 > 0) out[n++] = CODE[d1] as number
    if (n > zeros || d2 > 0) out[n++] = CODE[d2] as number
    out[n++] = CODE[d3] as number
  }
  return out.toString('latin1', 0, n)
}

/** The bytes of s[from ..), or undefined when a character is not in the alphabet. */
export function decodeBase58(s: string, from = 0): Uint8Array | undefined {
  const to = s.length
  let zeros = 0
  while (from + zeros < to && s.charCodeAt(from + zeros) === 49) zeros++
  // the number in limbs of 2^16, least significant first, fed 4 digits at a time (the first group shorter)
  const limbs: number[] = []
  let k = from + zeros
  let group = (to - k) % 4 || 4
  while (k < to) {
    let v = 0
    let mul = 1
    for (const end = k + group; k < end; k++) {
      const d = base58Digit(s.charCodeAt(k))
      if (d < 0) return undefined
      v = v * 58 + d
      mul *= 58
    }
    group = 4
    let carry = v
    for (let j = 0; j < limbs.length; j++) {
      const x = (limbs[j] as number) * mul + carry
      carry = Math.floor(x / 65536)
      limbs[j] = x - carry * 65536
    }
    while (carry > 0) {
      limbs.push(carry % 65536)
      carry = Math.floor(carry / 65536)
    }
  }
  let n = limbs.length * 2
  if (n > 0 && (limbs[limbs.length - 1] as number) < 256) n--
  const out = new Uint8Array(zeros + n)
  for (let j = 0, p = out.length - 1; p >= zeros; j++) {
    const limb = limbs[j] as number
    out[p--] = limb & 0xff
    if (p >= zeros) out[p--] = limb >>> 8
  }
  return out
}

/**
 * A text's last 3 digits are the number modulo 58^3 = 8 x 29^3: the last byte gives it modulo 8, and a
 * weighted sum modulo 29^3, in small integers (no division per byte, no double to box while the code
 * is cold: a load's first draw computes 100k of them).
 */
const M29 = 29 ** 3
/** 256^k mod 29^3: a byte k places from the end adds byte x TAIL_WEIGHTS[k] (< 2^23). */
const TAIL_WEIGHTS = new Int32Array(300)
TAIL_WEIGHTS[0] = 1
for (let k = 1; k < TAIL_WEIGHTS.length; k++) TAIL_WEIGHTS[k] = ((TAIL_WEIGHTS[k - 1] as number) * 256) % M29

/**
 * The weighted sum of b[from .. to) for tailValue. For an id in two parts, sum the last part's, then
 * the first's with `shift` = the last part's length, passing the first sum as `acc`.
 */
export function base58Tail(b: Uint8Array, from: number, to: number, shift = 0, acc = 0): number {
  for (let k = to - 1, j = shift; k >= from; k--, j++) {
    acc += (b[k] as number) * (TAIL_WEIGHTS[j] as number)
    if (acc > 0x1fffffff) acc %= M29
  }
  return acc
}

/** The value of the last 3 base58 digits of the number whose base58Tail sum is `acc` and whose last byte is `lastByte`. */
export function tailValue(acc: number, lastByte: number): number {
  const r = acc % M29
  // the one value below 58^3 that is r modulo 29^3 and lastByte modulo 8 (29^3 = 5 mod 8, and 5 x 5 = 1 mod 8)
  return r + M29 * (((lastByte - r) * 5) & 7)
}
