import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { base58Digit, base58Tail, decodeBase58, encodeBase58, tailValue } from '../../src/p2p/address-book/base58.ts'

/** Bitcoin Core's base58 vectors (src/test/data/base58_encode_decode.json). */
const VECTORS: Array<[string, string]> = [
  ['', ''],
  ['61', '2g'],
  ['626262', 'a3gV'],
  ['636363', 'aPEr'],
  ['73696d706c792061206c6f6e6720737472696e67', '2cFupjhnEsSn59qHXstmK2ffpLv2'],
  ['00eb15231dfceb60925886b67d065299925915aeb172c06647', '1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L'],
  ['516b6fcd0f', 'ABnLTmg'],
  ['bf4f89001e670274dd', '3SEo3LWLoPntC'],
  ['572e4794', '3EFU7m'],
  ['ecac89cad93923c02321', 'EJDM8drfXA6uyA'],
  ['10c8511e', 'Rt5zm'],
  ['00000000000000000000', '1111111111'],
]

/** The value of a text's last 3 digits, read the slow way. */
function lastDigits(text: string): number {
  let v = 0
  for (let i = Math.max(0, text.length - 3); i < text.length; i++) v = v * 58 + base58Digit(text.charCodeAt(i))
  return v
}

describe('base58btc (the address book keeps peer ids as bytes)', () => {
  it('encodes and decodes the reference vectors', () => {
    for (const [hex, text] of VECTORS) {
      expect(encodeBase58(Buffer.from(hex, 'hex'))).toBe(text)
      expect(Buffer.from(decodeBase58(text) as Uint8Array).toString('hex')).toBe(hex)
    }
  })

  it('round-trips random bytes of every length, leading zeros included, and gives the last digits from the bytes', () => {
    for (let n = 0; n < 3000; n++) {
      const b = randomBytes(n % 70)
      for (let z = 0; z < n % 4 && z < b.length; z++) b[z] = 0
      const text = encodeBase58(b)
      expect(Buffer.from(decodeBase58(text) as Uint8Array).equals(b)).toBe(true)
      // an id split as the file keeps it: the last 32 bytes apart from the head
      const cut = Math.max(0, b.length - 32)
      expect(tailValue(base58Tail(b, 0, cut, b.length - cut, base58Tail(b, cut, b.length)), b[b.length - 1] ?? 0)).toBe(lastDigits(text))
    }
  })

  it('refuses characters outside the alphabet', () => {
    for (const bad of ['0', 'O', 'I', 'l', '/', 'é', '12D3KooW ']) expect(decodeBase58(`12D3KooW${bad}`)).toBeUndefined()
    // and reads from an offset, as for the id after a key's /p2p/
    expect(decodeBase58('/p2p/2g', 5)).toEqual(Uint8Array.from([0x61]))
  })
})
