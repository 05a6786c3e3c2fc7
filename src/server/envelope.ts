import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { badRequest } from './rpc-error.ts'

/** The p2p-webapp request envelope. */
export const RequestSchema = Type.Object({
  requestid: Type.Integer(),
  method: Type.String({ minLength: 1, maxLength: 128 }),
  params: Type.Optional(Type.Unknown()),
})
export type Request = Static<typeof RequestSchema>

/** Validate `value` against `schema`; a mismatch is a 400 naming the first wrong field. */
export function check<S extends TSchema>(schema: S, value: unknown, what: string): Static<S> {
  if (Value.Check(schema, value)) return value as Static<S>
  const first = Value.Errors(schema, value).First()
  const where = first?.path ? `${what}${first.path.replace(/\//g, '.')}` : what
  throw badRequest(`${where}: ${first?.message ?? 'invalid'}`)
}

/** Deepest nesting a frame may have (checked before parsing); deeper values would exhaust the stack of recursive validators. */
export const MAX_FRAME_DEPTH = 64

export const response = (requestid: number, result: unknown) => JSON.stringify({ requestid, isresponse: true, result: result ?? null })

export const errorResponse = (requestid: number | null, code: number, message: string) =>
  JSON.stringify({ requestid, isresponse: true, error: { code, message } })
