/**
 * `source` with its first chunk asked for now, so the reads behind it (an exporter fetching blocks)
 * begin before anyone iterates; `cancel` gives it up unread. The failure of a read given up is
 * nobody's: it never surfaces as an unhandled rejection.
 */
export function readAhead<T>(source: AsyncIterable<T>): { stream: AsyncIterable<T>; cancel(): void } {
  const it = source[Symbol.asyncIterator]()
  const first = it.next()
  first.catch(() => {})
  return {
    stream: (async function* () {
      try {
        for (let r = await first; r.done !== true; r = await it.next()) yield r.value
      } finally {
        await it.return?.(undefined)
      }
    })(),
    cancel: () => void it.return?.(undefined)?.catch(() => {}),
  }
}
