import { Type } from '@sinclair/typebox'
import { InvalidRequestError } from '../../errors.ts'
import { contentLimit } from '../../p2p/files/frame-codec.ts'
import { decodeBase64, parseCid, parsePeerId } from '../../p2p/validate.ts'
import { defineMethod, type MethodContext } from '../method.ts'

const own = (ctx: MethodContext) => ctx.nodes.services(ctx.session.boundAlias()).files.service
import { RpcError, toRpcError } from '../rpc-error.ts'

/** A failure talking to another peer, with a code a client can act on: the request's own fault, a timeout (504), or 500. */
function remoteError(err: unknown, what: string): RpcError {
  const e = toRpcError(err)
  if (err instanceof RpcError || err instanceof InvalidRequestError) return e
  return new RpcError(e.code === 504 ? 504 : 500, `${what}: ${(err as Error)?.message ?? String(err)}`)
}

/** p2p-webapp's file calls, on the bound local peer's directory; and the block collector. */
export const filesMethods = [
  defineMethod({
    name: 'files.gc',
    params: Type.Object({}),
    /** Collect unreferenced blocks now; answers what the collection found and did. */
    handler: (_params, ctx) => ctx.files.collectGarbage(ctx.signal),
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
      const stored = await own(ctx).storeFile(path, bytes, directory, ctx.signal)
      return { fileCid: stored.fileCid.toString(), rootCid: stored.rootCid.toString() }
    },
  }),
  defineMethod({
    name: 'removefile',
    params: Type.Object({ path: Type.String({ maxLength: 16_384 }) }),
    handler: async ({ path }, ctx) => {
      await own(ctx).removeFile(path, ctx.signal)
      return null
    },
  }),
  defineMethod({
    name: 'listfiles',
    params: Type.Object({ peerid: Type.String({ minLength: 1, maxLength: 256 }) }),
    /** Answers null after the `peerFiles` push, or an error (p2p-webapp swallows it and never answers). */
    handler: async ({ peerid }, ctx) => {
      parsePeerId(peerid, 'peerid')
      const mine = own(ctx)
      // a peer of this daemon is read directly, not over the network
      const local = peerid === mine.peerId ? mine : ctx.nodes.byPeerId(peerid)?.services?.files.service
      if (local !== undefined) {
        const list = await local.list(ctx.signal)
        ctx.session.push('peerFiles', { peerid, cid: list.cid, entries: list.entries })
        return null
      }
      // a synced peer that is not connected, or whose live listing fails, is read from its replica
      const sync = ctx.nodes.services(ctx.session.boundAlias()).sync
      const fromReplica = async (err?: unknown) => {
        const list = await sync.listReplica(peerid, ctx.signal)
        if (list === undefined) throw remoteError(err ?? new Error('no replica'), `listfiles ${peerid}`)
        ctx.session.push('peerFiles', { peerid, cid: list.cid, entries: list.entries, source: 'replica' })
        return null
      }
      if (sync.replicaRoot(peerid) !== undefined && !sync.isConnected(peerid)) return fromReplica()
      let list: Awaited<ReturnType<typeof mine.listRemote>>
      try {
        list = await mine.listRemote(peerid, ctx.signal)
      } catch (err) {
        if (ctx.signal.aborted) throw remoteError(err, `listfiles ${peerid}`)
        return fromReplica(err)
      }
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
      const service = own(ctx)
      const maxBytes = contentLimit(ctx.config.maxFrameBytes)
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
