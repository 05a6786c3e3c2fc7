const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A syntactically valid, distinct Ed25519-style peer id for each n (no key behind it). */
export function syntheticPeerId(n: number): string {
  let s = ''
  let x = n
  for (let i = 0; i < 44; i++) {
    s += B58[x % 58]
    x = Math.floor(x / 58) + (i + 1) * 7
  }
  return `12D3KooW${s}`
}
