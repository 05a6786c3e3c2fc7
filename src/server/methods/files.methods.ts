import { Type } from '@sinclair/typebox'
import { collectBlocks, fileService, localFileService } from '../../actors/files/files.ts'
import { contentLimit } from '../../p2p/files/frame-codec.ts'
import { InvalidInputError, parseCid, parsePeerId } from '../../p2p/validate.ts'
import { defineMethod } from '../method.ts'
import { RpcError, toRpcError } from '../rpc-error.ts'

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Standard base64, padded or not; anything else (URL alphabet, spaces, stray `=`) is refused. */
export function decodeBase64(text: string, field: string): Uint8Array {
  const padded = text.includes('=')
  if (!BASE64.test(text) || text.length % 4 === 1 || (padded && text.length % 4 !== 0))
    throw new InvalidInputError(field, 'is not valid base64')
  return new Uint8Array(Buffer.from(text, 'base64'))
}

/** A failure talking to another peer, with a code a client can act on. */
function remoteError(err: unknown, what: string): RpcError {
  if (err instanceof RpcError || (err as Error)?.name === 'InvalidInputError') return toRpcError(err)
  const e = err as Error
  if (e?.name === 'TimeoutError') return new RpcError(504, `${what}: ${e.message}`)
  return new RpcError(500, `${what}: ${e?.message ?? String(err)}`)
}

/** p2p-webapp's file calls, on the bound local peer's directory; and the block collector. */
export const filesMethods = [
  defineMethod({
    name: 'files.gc',
    params: Type.Object({}),
    /** Collect unreferenced blocks now; answers what the collection found and did. */
    handler: (_params, ctx) => collectBlocks(ctx.sb, ctx.signal),
  }),
  defineMethod({
    name: 'storefile',
    params: Type.Object({
      path: Type.String({ maxLength: 16_384 }),
      content: Type.Optional(Type.String()),
      directory: Type.Optional(Type.Boolean()),
    }),
    handler: async ({ path, content, directory = false }, ctx) => {
      const bytes = content === undefined ? undefined : decodeBase64(content, 'content')
      const stored = await fileService(ctx.sb, ctx.session.boundAlias()).storeFile(path, bytes, directory, ctx.signal)
      return { fileCid: stored.fileCid.toString(), rootCid: stored.rootCid.toString() }
    },
  }),
  defineMethod({
    name: 'removefile',
    params: Type.Object({ path: Type.String({ maxLength: 16_384 }) }),
    handler: async ({ path }, ctx) => {
      await fileService(ctx.sb, ctx.session.boundAlias()).removeFile(path, ctx.signal)
      return null
    },
  }),
  defineMethod({
    name: 'listfiles',
    params: Type.Object({ peerid: Type.String({ minLength: 1, maxLength: 256 }) }),
    /** Answers null after the `peerFiles` push, or an error (p2p-webapp swallows it and never answers). */
    handler: async ({ peerid }, ctx) => {
      parsePeerId(peerid, 'peerid')
      const own = fileService(ctx.sb, ctx.session.boundAlias())
      // a peer of this daemon is read directly, not over the network
      const local = peerid === own.peerId ? own : localFileService(ctx.sb, peerid)
      const list =
        local !== undefined
          ? await local.list(ctx.signal)
          : await own.listRemote(peerid, ctx.signal).catch((err: unknown) => Promise.reject(remoteError(err, `listfiles ${peerid}`)))
      ctx.session.push('peerFiles', { peerid, cid: list.cid, entries: list.entries })
      return null
    },
  }),
  defineMethod({
    name: 'getfile',
    params: Type.Object({
      cid: Type.String({ minLength: 1, maxLength: 256 }),
      fallbackPeerID: Type.Optional(Type.String({ maxLength: 256 })),
    }),
    /** Answers null at once; the `gotFile` push follows, with success false and an error when it fails. */
    handler: ({ cid, fallbackPeerID }, ctx) => {
      const parsed = parseCid(cid)
      const fallback = fallbackPeerID === undefined || fallbackPeerID === '' ? undefined : fallbackPeerID
      if (fallback !== undefined) parsePeerId(fallback, 'fallbackPeerID')
      const service = fileService(ctx.sb, ctx.session.boundAlias())
      const maxBytes = contentLimit(ctx.sb.config.maxFrameBytes)
      void service.getFile(parsed, fallback, maxBytes, ctx.signal).then(
        (got) =>
          ctx.session.push('gotFile', {
            cid,
            success: true,
            content:
              got.type === 'file'
                ? { type: 'file', mimeType: got.mimeType, content: Buffer.from(got.content).toString('base64') }
                : { type: 'directory', entries: got.entries },
          }),
        (err: Error) => {
          if (!ctx.signal.aborted) ctx.session.push('gotFile', { cid, success: false, content: { error: err.message } })
        },
      )
      return null
    },
  }),
]
