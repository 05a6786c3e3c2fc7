/**
 * The limits every upload meets, whichever way it arrives (HTTP PUT, WebSocket storefile): a largest
 * file, a quota on what the peer's directory holds and one on what all local directories hold
 * together, and for streamed content an idle timeout.
 * Checked up front against the size the client declares, and again while the bytes stream in.
 */
import { IdleDeadline } from './deadline.ts'
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
 * The iterator's next result, or a rejection as soon as `signal` aborts. Not a Promise.race with
 * one long-lived promise: each race would leave a reaction on it holding that chunk, so every
 * chunk of the upload would stay in memory.
 */
function nextUnless<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    it.next().then(
      (r) => {
        signal.removeEventListener('abort', onAbort)
        resolve(r)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/**
 * `source` with the limits applied as it streams: past a limit it throws 413; when the source
 * gives no chunk for `idleMs` after one was asked for, it throws 408 without waiting any longer
 * (the caller closes the source). Time the consumer takes between chunks does not count.
 */
export async function* limitedUpload(
  source: AsyncIterable<Uint8Array>,
  limits: UploadLimits,
  idleMs: number,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const idle = new IdleDeadline(idleMs, 'upload', signal)
  const it = source[Symbol.asyncIterator]()
  let bytes = 0
  try {
    while (true) {
      let next: IteratorResult<Uint8Array>
      idle.touch()
      try {
        next = await nextUnless(it, idle.signal)
      } catch (err) {
        if (idle.signal.aborted && !signal?.aborted)
          throw new UploadStalledError(`upload: no bytes for ${idleMs} ms after ${bytes} bytes (fileUploadIdleMs); aborted`)
        throw err
      }
      idle.clear()
      if (next.done) return
      bytes += next.value.length
      checkUploadSize(bytes, limits)
      yield next.value
    }
  } finally {
    idle.clear()
  }
}
