/**
 * A signal for one libp2p dial: aborted if `parent` aborts or `timeoutMs` passes while the dial is
 * pending, and released once it settles. libp2p 3 ties a new connection to its dial signal, so
 * passing an actor's signal (aborted when the actor stops, after the dial succeeded) or an
 * AbortSignal.timeout straight in closes the connection later with status "aborted".
 */
export function dialSignal(
  parent: AbortSignal,
  timeoutMs: number,
  /** Checked when `parent` aborts: true lets the dial finish (e.g. the peer connected meanwhile, on this very connection). */
  keep: () => boolean = () => false,
): { signal: AbortSignal; release: () => void; disarm: () => void } {
  const controller = new AbortController()
  const onAbort = () => {
    if (!keep()) controller.abort(parent.reason)
  }
  if (parent.aborted) onAbort()
  else parent.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => {
    const err = new Error(`dial timed out after ${timeoutMs} ms`)
    err.name = 'TimeoutError'
    controller.abort(err)
  }, timeoutMs)
  return {
    signal: controller.signal,
    /** The timer no longer applies; `parent` still aborts the dial. */
    disarm: () => clearTimeout(timer),
    release: () => {
      clearTimeout(timer)
      parent.removeEventListener('abort', onAbort)
    },
  }
}
