import { Type } from '@sinclair/typebox'
import { defineMethod } from '../method.ts'

export const nodeMethods = [
  defineMethod({
    name: 'node.info',
    params: Type.Object({}),
    handler: (_, { nodes, session }) => nodes.info(session.boundAlias()),
  }),
]
