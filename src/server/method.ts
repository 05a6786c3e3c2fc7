import type { Static, TSchema } from '@sinclair/typebox'
import type { Core } from '../compose.ts'
import type { ClientSession } from './client-session.ts'

/** The daemon's parts the server works with: everything the composition root built but its shutdown. */
export type ServerDeps = Omit<Core, 'shutdown'>

/** What a method handler gets: the daemon's parts, its caller's session, and the session's signal. */
export interface MethodContext extends ServerDeps {
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
