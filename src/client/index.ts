/**
 * `switchboard/client`: the typed client for browsers and Node, and the protocol's schemas it is
 * typed from. `switchboard/client/p2p-webapp` is p2p-webapp's client API on top of it.
 */
export {
  type BackoffOptions,
  type CallOptions,
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  type EventName,
  type EventParams,
  type PushEvents,
  SwitchboardClient,
  SwitchboardError,
  SwitchboardTimeoutError,
} from './client.ts'
export {
  type MethodName,
  type MethodParams,
  type MethodResult,
  methodNames,
  methodSchemas,
  type PushName,
  type PushParams,
  pushNames,
  pushSchemas,
  shapes,
} from '../protocol/index.ts'
