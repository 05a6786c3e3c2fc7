import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AbortError, InvalidParametersError, NotFoundError, TimeoutError } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { FilesError } from '../../src/actors/files/errors.ts'
import { MessagingError } from '../../src/actors/messaging/errors.ts'
import {
  ConflictError,
  ForbiddenError,
  GoneError,
  InvalidRequestError,
  OperationFailedError,
  RateLimitedError,
  RequestTimeoutError,
  ResourceNotFoundError,
  TooLargeError,
  UnavailableError,
} from '../../src/errors.ts'
import { RpcError, toRpcError } from '../../src/server/rpc-error.ts'

/**
 * Every error class that reaches a client: constructor arguments and the protocol code it answers
 * with. Classes are found by name wherever they are declared under src (they may move between files).
 */
const DOMAIN: Record<string, { args: unknown[]; code: number }> = {
  FileNotFoundError: { args: ['path: a does not exist'], code: 404 },
  PathConflictError: { args: ['path: a is a file, not a directory'], code: 409 },
  NotUnixFsError: { args: ['cid: x is neither a UnixFS file nor a directory'], code: 400 },
  ContentTooLargeError: { args: ['file: over fileMaxBytes'], code: 413 },
  UploadStalledError: { args: ['upload: no bytes for 10 ms'], code: 408 },
  ProtocolNotStartedError: { args: ['/chat/1'], code: 400 },
  ReservedProtocolError: { args: ['/ipfs/kad/1.0.0'], code: 409 },
  QueueFullError: { args: ['12D3KooW', '100 messages wait for acks'], code: 429 },
  MessageTooLargeError: { args: [20, 10], code: 413 },
  NodeNotRunningError: { args: ['peer-b'], code: 503 },
  NodeStartError: { args: ['local node peer-b failed to start'], code: 500 },
  PeerAlreadyHostedError: { args: ['peer x is already hosted here as peer-a'], code: 409 },
  UnknownPeerError: { args: ['unknown peer x'], code: 404 },
  PeerBannedError: { args: ['peer x is banned'], code: 500 },
  NoAddressError: { args: ['no known address for x'], code: 500 },
  ConnectionRefusedError: { args: ['refused'], code: 500 },
  TopicJoinError: { args: ['topic t: could not join'], code: 500 },
  DhtQueueFullError: { args: ['DHT queue is full'], code: 503 },
  DhtOpCancelledError: { args: ['DHT actor is stopped'], code: 503 },
  InvalidInputError: { args: ['params.cid', 'is not a CID'], code: 400 },
  InvalidTicketError: { args: ['checksum', 'checksum does not match (mistyped?)'], code: 400 },
  TicketGoneError: { args: ['ticket: this ticket was already used: tickets pair once'], code: 410 },
  PairingRefusedByPeerError: { args: ["wrong proof: this ticket's secret does not match"], code: 403 },
  UnverifiableContentError: { args: ['content does not hash to x'], code: 500 },
  RemoteFileError: { args: ['file not found'], code: 500 },
  SaveError: { args: ['cannot save the ban list'], code: 500 },
}

/** The kinds themselves (src/errors.ts) and their codes. */
const KINDS: Array<[abstract new (message: string) => Error, number]> = [
  [InvalidRequestError, 400],
  [ForbiddenError, 403],
  [ResourceNotFoundError, 404],
  [RequestTimeoutError, 408],
  [ConflictError, 409],
  [GoneError, 410],
  [TooLargeError, 413],
  [RateLimitedError, 429],
  [OperationFailedError, 500],
  [UnavailableError, 503],
]

/** Error classes in src that never reach a client as themselves (startup, CLI, client side, peer-protocol parsing). */
const INTERNAL = new Set([
  'RpcError',
  'SwitchboardError',
  'SwitchboardTimeoutError',
  'CliError',
  'ConfigError',
  'UsageError',
  'PortRangeExhaustedError',
  'HttpListenError',
  'DataDirLockedError',
  'DataDirError',
  'CorruptFileError',
  'MalformedPresenceError',
  'ForgedPresenceError',
  'ExpiredPresenceError',
  'MalformedFrameError',
  'FrameTooLargeError',
  'UnexpectedEndError',
  'InvalidAddressError',
  // the pairing protocol's own failures: they end in the pairing actor's `failure`, never thrown to a client
  'PairProtocolError',
  'PairingRefusedError',
  'HandshakeInterruptedError',
])

const SRC = join(import.meta.dirname, '../../src')
const KIND_NAMES = new Set(KINDS.map(([kind]) => kind.name))

/** Every `export class XError extends` under src, by class name, with its file. */
const declared = new Map<string, string>()
for (const file of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.ts')) continue
  for (const m of readFileSync(join(SRC, file), 'utf8').matchAll(/^export class (\w+Error) extends /gm)) declared.set(m[1] as string, file)
}

type ErrorClass = new (...args: unknown[]) => Error
const classes = new Map<string, ErrorClass>()
for (const name of Object.keys(DOMAIN)) {
  const file = declared.get(name)
  if (file !== undefined) classes.set(name, (await import(join(SRC, file)))[name] as ErrorClass)
}
const make = (name: string): Error => {
  const Class = classes.get(name) as ErrorClass
  return new Class(...(DOMAIN[name]?.args ?? []))
}

describe('protocol error codes', () => {
  it('knows every error class declared in src', () => {
    const unaccounted = [...declared.keys()].filter((name) => !(name in DOMAIN) && !INTERNAL.has(name) && !KIND_NAMES.has(name))
    expect(unaccounted, 'add each new error class to DOMAIN (with its code) or INTERNAL').toEqual([])
  })

  it.each([...classes.keys()].map((name) => ({ name, code: DOMAIN[name]?.code })))(
    '$name answers $code with its own message',
    ({ name, code }) => {
      const err = make(name)
      expect(err.name).toBe(name)
      const rpc = toRpcError(err)
      expect(rpc).toBeInstanceOf(RpcError)
      expect({ code: rpc.code, message: rpc.message }).toEqual({ code, message: err.message })
    },
  )

  it.each(KINDS.map(([kind, code]) => ({ kind, name: kind.name, code })))('kind $name answers $code', ({ kind, name, code }) => {
    const err = new (kind as new (message: string) => Error)('m')
    expect(err.name).toBe(name)
    expect(toRpcError(err)).toMatchObject({ code, message: 'm' })
  })

  it('keeps messages, extra fields and causes', () => {
    expect(make('InvalidInputError')).toMatchObject({ field: 'params.cid', message: 'params.cid: is not a CID' })
    expect(make('NodeNotRunningError').message).toBe('local node peer-b is not running')
    expect(make('MessageTooLargeError').message).toBe('data: the encoded message is 20 bytes, over the limit of 10')
    const cause = new Error('below')
    expect(new ResourceNotFoundError('unknown', { cause }).cause).toBe(cause)
    expect(make('UnknownPeerError')).toBeInstanceOf(NotFoundError)
    expect(make('InvalidInputError')).toBeInstanceOf(InvalidParametersError)
  })

  it('keeps the files and messaging families for instanceof', () => {
    const members = (family: { members: ReadonlyArray<{ name: string }> }) => new Set(family.members.map((c) => c.name))
    expect(members(FilesError)).toEqual(
      new Set(['FileNotFoundError', 'PathConflictError', 'NotUnixFsError', 'ContentTooLargeError', 'UploadStalledError']),
    )
    expect(members(MessagingError)).toEqual(
      new Set(['ProtocolNotStartedError', 'ReservedProtocolError', 'QueueFullError', 'MessageTooLargeError']),
    )
    for (const name of classes.keys()) {
      const err = make(name)
      expect(err instanceof FilesError, name).toBe(members(FilesError).has(name))
      expect(err instanceof MessagingError, name).toBe(members(MessagingError).has(name))
    }
    expect(new Error('x') instanceof FilesError).toBe(false)
  })

  it('maps timeouts to 504 whether libp2p, DOMException or a renamed Error', () => {
    const renamed = new Error('getfile x: no progress for 10 ms')
    renamed.name = 'TimeoutError'
    for (const err of [new TimeoutError('dial timed out'), new DOMException('signal timed out', 'TimeoutError'), renamed]) {
      expect(toRpcError(err)).toMatchObject({ code: 504, message: err.message })
    }
  })

  it('maps aborts to 500 prefixed "aborted: "', () => {
    for (const err of [new AbortError('stopped'), new DOMException('This operation was aborted', 'AbortError')]) {
      expect(toRpcError(err)).toMatchObject({ code: 500, message: `aborted: ${err.message}` })
    }
  })

  it('passes RpcError through and answers anything else 500', () => {
    const rpc = new RpcError(418, 'teapot')
    expect(toRpcError(rpc)).toBe(rpc)
    expect(toRpcError(new Error('boom'))).toMatchObject({ code: 500, message: 'boom' })
    expect(toRpcError('plain string')).toMatchObject({ code: 500, message: 'plain string' })
    expect(toRpcError(undefined)).toMatchObject({ code: 500, message: 'undefined' })
    // a numeric `code` on an error decides nothing
    expect(toRpcError(Object.assign(new Error('coded'), { code: 404 }))).toMatchObject({ code: 500 })
    // libp2p's own errors of a kind (findPeer's NotFoundError...) stay 500, as before
    expect(toRpcError(new NotFoundError('Not found'))).toMatchObject({ code: 500 })
    expect(toRpcError(new InvalidParametersError('no protocols'))).toMatchObject({ code: 500 })
  })
})
