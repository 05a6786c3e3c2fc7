import { Type } from '@sinclair/typebox'
import { defineMethod } from '../method.ts'

export const nodeMethods = [
  defineMethod({
    name: 'node.info',
    params: Type.Object({}),
    handler: (_, { sb, session }) => sb.nodeInfo(session.boundAlias()),
  }),
]
