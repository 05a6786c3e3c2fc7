import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import { badRequest } from './rpc-error.ts'

/** The p2p-webapp request envelope. */
export const RequestSchema = Type.Object({
  requestid: Type.Integer(),
  method: Type.String({ minLength: 1, maxLength: 128 }),
  params: Type.Optional(Type.Unknown()),
})
export type Request = Static<typeof RequestSchema>

/**
 * Each schema's compiled checker (TypeCompiler emits one function per schema), made on its first use:
 * the envelope's as this module loads, a method's on its first call, so start-up compiles nothing else.
 */
const compiled = new WeakMap<TSchema, (value: unknown) => boolean>()

function checkerOf(schema: TSchema): (value: unknown) => boolean {
  let fn = compiled.get(schema)
  if (fn === undefined) {
    try {
      const typeCheck = TypeCompiler.Compile(schema)
      fn = (value) => typeCheck.Check(value)
    } catch {
      // a schema the compiler cannot take (references, custom kinds) is checked by walking it
      fn = (value) => Value.Check(schema, value)
    }
    compiled.set(schema, fn)
  }
  return fn
}

/** Validate `value` against `schema`; a mismatch is a 400 naming the first wrong field. */
export function check<S extends TSchema>(schema: S, value: unknown, what: string): Static<S> {
  if (checkerOf(schema)(value)) return value as Static<S>
  const first = Value.Errors(schema, value).First()
  const where = first?.path ? `${what}${first.path.replace(/\//g, '.')}` : what
  throw badRequest(`${where}: ${first?.message ?? 'invalid'}`)
}

/** Deepest nesting a frame may have (checked before parsing); deeper values would exhaust the stack of recursive validators. */
export const MAX_FRAME_DEPTH = 64

export const response = (requestid: number, result: unknown) => JSON.stringify({ requestid, isresponse: true, result: result ?? null })

export const errorResponse = (requestid: number | null, code: number, message: string) =>
  JSON.stringify({ requestid, isresponse: true, error: { code, message } })

checkerOf(RequestSchema)
