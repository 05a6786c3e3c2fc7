/**
 * What a method handler and the feeds may do with the WebSocket session of their caller. Its own
 * module, apart from the `Session` class in ws-session.ts, because that class runs the methods and
 * starts the feeds: were they to name the class, the modules would import each other in a circle.
 */
export interface ClientSession {
  /** The local peer this connection is bound to; peer-a unless `peer` created a session peer. */
  readonly alias: string | undefined
  /** actors.subscribe subscriptions of this socket, by id, with their stop function. */
  readonly subscriptions: Map<string, () => void>
  /** Aborted when the socket closes. */
  readonly signal: AbortSignal
  /** The bound alias, binding to peer-a on first use. */
  boundAlias(): string
  /** Bind this connection to a local peer, once; its feeds start pushing. */
  bind(alias: string): string
  /** Undo a bind whose local peer never came up, so the client may call `peer` again. */
  unbind(): void
  newSubscriptionId(): string
  /** Run `fn` when the socket closes; returns a disposer that forgets `fn`. */
  onClose(fn: () => void | Promise<void>): () => void
  push(method: string, params: unknown): void
}
