/** Runs async sections one after another, in call order; one that fails does not stop the next. */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve()

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn)
    this.#tail = result.catch(() => {})
    return result
  }
}

/** A Serial per key (one per protocol, say); a key's chain is forgotten once it is idle. */
export class KeyedSerial<K> {
  readonly #tails = new Map<K, Promise<unknown>>()

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(fn, fn)
    const tail = result.catch(() => {})
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return result
  }
}
