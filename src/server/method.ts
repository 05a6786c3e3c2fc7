import type { Static, TSchema } from '@sinclair/typebox'
import type { Switchboard } from '../switchboard.ts'
import type { ClientSession } from './client-session.ts'

export interface MethodContext {
  sb: Switchboard
  session: ClientSession
  /** Aborted when the socket closes. */
  signal: AbortSignal
}

export interface Method<S extends TSchema = TSchema> {
  name: string
  params: S
  handler(params: Static<S>, ctx: MethodContext): unknown | Promise<unknown>
}

/** Declare a method; params are validated against `params` before `handler` runs. */
export const defineMethod = <S extends TSchema>(m: Method<S>): Method<S> => m
