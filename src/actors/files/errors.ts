/** Failures of file calls; `code` is the protocol error code a method or HTTP route answers with. */
export class FilesError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

/** A path, or a directory CID to restore, that does not exist. */
export class FileNotFoundError extends FilesError {
  override name = 'FileNotFoundError'
  constructor(message: string) {
    super(404, message)
  }
}

/** A path where a file stands in the way of a directory. */
export class PathConflictError extends FilesError {
  override name = 'PathConflictError'
  constructor(message: string) {
    super(409, message)
  }
}

/** A CID that is neither a UnixFS file nor a directory. */
export class NotUnixFsError extends FilesError {
  override name = 'NotUnixFsError'
  constructor(message: string) {
    super(400, message)
  }
}

/** Content larger than one WebSocket frame can carry. */
export class ContentTooLargeError extends FilesError {
  override name = 'ContentTooLargeError'
  constructor(message: string) {
    super(413, message)
  }
}

/** An upload that sent no bytes for longer than the idle timeout. */
export class UploadStalledError extends FilesError {
  override name = 'UploadStalledError'
  constructor(message: string) {
    super(408, message)
  }
}
