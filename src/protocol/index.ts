import type { Static } from '@sinclair/typebox'
import { methodSchemas } from './methods.ts'
import { pushSchemas } from './pushes.ts'

export { methodSchemas } from './methods.ts'
export { pushSchemas } from './pushes.ts'
export * as shapes from './shapes.ts'

/** Every method name of the WebSocket protocol. */
export type MethodName = keyof typeof methodSchemas
/** What a method takes. */
export type MethodParams<M extends MethodName> = Static<(typeof methodSchemas)[M]['params']>
/** What a method answers. */
export type MethodResult<M extends MethodName> = Static<(typeof methodSchemas)[M]['result']>
/** Every push name. */
export type PushName = keyof typeof pushSchemas
/** The params of a push. */
export type PushParams<P extends PushName> = Static<(typeof pushSchemas)[P]>

export const methodNames = Object.keys(methodSchemas) as MethodName[]
export const pushNames = Object.keys(pushSchemas) as PushName[]
