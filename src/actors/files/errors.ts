import { ConflictError, errorFamily, InvalidRequestError, RequestTimeoutError, ResourceNotFoundError, TooLargeError } from '../../errors.ts'

/** A path, or a directory CID to restore, that does not exist (404). */
export class FileNotFoundError extends ResourceNotFoundError {
  override name = 'FileNotFoundError'
  constructor(message: string) {
    super(message)
  }
}

/** A path where a file stands in the way of a directory (409). */
export class PathConflictError extends ConflictError {
  override name = 'PathConflictError'
  constructor(message: string) {
    super(message)
  }
}

/** A CID that is neither a UnixFS file nor a directory (400). */
export class NotUnixFsError extends InvalidRequestError {
  override name = 'NotUnixFsError'
  constructor(message: string) {
    super(message)
  }
}

/** Content over a size limit: a WebSocket frame, fileMaxBytes, filePeerQuotaBytes (413). */
export class ContentTooLargeError extends TooLargeError {
  override name = 'ContentTooLargeError'
  constructor(message: string) {
    super(message)
  }
}

/** An upload that sent no bytes for longer than the idle timeout (408). */
export class UploadStalledError extends RequestTimeoutError {
  override name = 'UploadStalledError'
  constructor(message: string) {
    super(message)
  }
}

/** Failures of file calls, for `err instanceof FilesError`; each member's kind gives its protocol code. */
export type FilesError = FileNotFoundError | PathConflictError | NotUnixFsError | ContentTooLargeError | UploadStalledError
export const FilesError = errorFamily<FilesError>([
  FileNotFoundError,
  PathConflictError,
  NotUnixFsError,
  ContentTooLargeError,
  UploadStalledError,
])
