/**
 * The limits every upload meets, whichever way it arrives (HTTP PUT, WebSocket storefile): a largest
 * file, a quota on what the peer's directory holds and one on what all local directories hold
 * together, and for streamed content an idle timeout.
 * Checked up front against the size the client declares, and again while the bytes stream in.
 */
import { ContentTooLargeError, UploadStalledError } from './errors.ts'

export interface UploadLimits {
  /** Largest file (fileMaxBytes). */
  maxFileBytes: number
  /** Bytes the directory may still take for this file (quota minus what it holds, plus what the file replaces). */
  quotaLeft: number
  quotaBytes: number
  /** Bytes all local peers' directories may still take together for this file (fileTotalQuotaBytes). */
  totalLeft: number
  totalQuotaBytes: number
  /** Whose directory, for messages. */
  alias: string
}

/** Refuse a file of `bytes` (declared or counted so far) that breaks a limit; 413 naming it. */
export function checkUploadSize(bytes: number, limits: UploadLimits): void {
  if (bytes > limits.maxFileBytes)
    throw new ContentTooLargeError(`file: ${bytes} bytes is over the limit of ${limits.maxFileBytes} bytes per file (fileMaxBytes)`)
  if (bytes > limits.quotaLeft) {
    throw new ContentTooLargeError(
      `quota: ${bytes} more bytes would take ${limits.alias}'s directory over its quota of ${limits.quotaBytes} bytes (filePeerQuotaBytes); ${Math.max(0, limits.quotaLeft)} bytes left`,
    )
  }
  if (bytes > limits.totalLeft) {
    throw new ContentTooLargeError(
      `quota: ${bytes} more bytes would take all local peers' directories over the daemon's total of ${limits.totalQuotaBytes} bytes (fileTotalQuotaBytes); ${Math.max(0, limits.totalLeft)} bytes left`,
    )
  }
}

/**
 * How far an upload is read ahead of the importer. The importer pulls a batch of blocks, then waits
 * while it writes them; a source read only on demand (an HTTP body, whose socket stops at 16 KiB
 * unread) would stall meanwhile, so the two would take turns instead of overlapping.
 */
export const UPLOAD_READ_AHEAD_BYTES = 8 * 1024 * 1024

/**
 * `source` with the limits applied as it streams: past a limit it throws 413; when the source
 * gives no chunk for `idleMs` after one was asked for, it throws 408 without waiting any longer
 * (the caller closes the source). Time the consumer takes between chunks does not count. The
 * source is read up to `readAheadBytes` ahead of the consumer, so reading it and consuming it
 * overlap; a limit or a stall is thrown at the consumer's next chunk, before what was read ahead.
 */
export async function* limitedUpload(
  source: AsyncIterable<Uint8Array>,
  limits: UploadLimits,
  idleMs: number,
  signal?: AbortSignal,
  readAheadBytes = UPLOAD_READ_AHEAD_BYTES,
): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  const queue: Uint8Array[] = []
  let queued = 0
  let bytes = 0
  let ended = false
  let failed = false
  let failure: unknown
  let pumping = false
  let stopped = false
  let wake: (() => void) | undefined
  const fail = (err: unknown) => {
    if (failed) return
    failed = true
    failure = err
    wake?.()
  }
  // One timer for the whole upload (not one per chunk): since when the source has been asked for
  // a chunk and not given it; checked when the timer fires, which re-arms for what is left.
  let askedAt: number | undefined
  let timer: NodeJS.Timeout | undefined
  const check = () => {
    timer = undefined
    if (askedAt === undefined || stopped || failed) return
    const waited = performance.now() - askedAt
    if (waited >= idleMs) fail(new UploadStalledError(`upload: no bytes for ${idleMs} ms after ${bytes} bytes (fileUploadIdleMs); aborted`))
    else arm(idleMs - waited)
  }
  const arm = (ms: number) => {
    timer = setTimeout(check, ms)
    timer.unref?.()
  }
  const onAbort = () => fail(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted) onAbort()

  const pump = async () => {
    pumping = true
    try {
      while (!stopped && !failed && !ended && queued < readAheadBytes) {
        askedAt = performance.now()
        if (timer === undefined) arm(idleMs)
        const next = await it.next()
        askedAt = undefined
        if (stopped || failed) return
        if (next.done) {
          ended = true
          break
        }
        bytes += next.value.length
        checkUploadSize(bytes, limits)
        queue.push(next.value)
        queued += next.value.length
        wake?.()
      }
    } catch (err) {
      fail(err)
    } finally {
      pumping = false
      wake?.()
    }
  }

  try {
    while (true) {
      if (failed) throw failure
      const chunk = queue.shift()
      if (chunk !== undefined) {
        queued -= chunk.length
        if (!pumping && !ended) void pump()
        yield chunk
        continue
      }
      if (ended) return
      if (!pumping) void pump()
      await new Promise<void>((resolve) => {
        wake = resolve
      })
      wake = undefined
    }
  } finally {
    stopped = true
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}
