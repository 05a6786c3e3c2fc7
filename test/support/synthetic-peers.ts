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

/** Deterministic PRNG (mulberry32) so weighted-random tests and benchmarks are repeatable. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
