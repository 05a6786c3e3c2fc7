import { Type } from '@sinclair/typebox'
import { defineMethod } from '../method.ts'
import { conflict } from '../rpc-error.ts'

export const sessionMethods = [
  defineMethod({
    name: 'peer',
    params: Type.Object({
      peerkey: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
      rootDirectory: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    }),
    handler: async ({ peerkey, rootDirectory }, { sessions, nodes, version, session }) => {
      if (session.alias !== undefined) throw conflict(`this connection is already bound to ${session.alias}; peer must be its first call`)
      try {
        const started = await sessions.start({
          ...(peerkey !== undefined ? { peerkey } : {}),
          ...(rootDirectory !== undefined ? { rootDirectory } : {}),
          // bound at once, so a racing call on this socket gets 409; the peer goes when the socket does
          bind: (alias) => {
            session.bind(alias)
            session.onClose(() => nodes.stop(alias))
          },
          signal: session.signal,
        })
        return { peerid: started.peerid, peerkey: started.peerkey, version }
      } catch (err) {
        // nothing half-made stays bound: the client may try `peer` again
        if (session.alias !== undefined) session.unbind()
        throw err
      }
    },
  }),
]
