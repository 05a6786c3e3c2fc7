import { type Static, Type } from '@sinclair/typebox'

/** Channels take nothing from clients: messages go through `send`, and a channel's life follows its traffic. */
export const ChannelClientEventSchema = Type.Union([])
export type ChannelClientEvent = Static<typeof ChannelClientEventSchema>

export interface ChannelInput {
  alias: string
  /** The remote peer. */
  peerId: string
  protocol: string
  /** An outbound stream with nothing in flight and no traffic for this long is closed (messageIdleMs). */
  idleMs: number
  /** How long a message is retried while the peer is unreachable (messageRetryWindowMs). */
  retryWindowMs: number
}

export interface ChannelContext extends ChannelInput {
  /** Attempts in a row that ended without an ack in between; sets the backoff before the next stream. */
  failures: number
  lastError: string | null
  /** Open streams of this (peer, protocol), either direction, the carrier included. */
  streams: number
  /** Messages wait to be written (kept up to date outside `open`, where the carrier takes them as they come). */
  waiting: boolean
}

/** How opening a stream ended. */
export type OpenResult =
  /** Open both ways; it carries the messages from now on. */
  | { kind: 'open' }
  /** The remote does not handle the protocol: retrying cannot help. */
  | { kind: 'refused'; error: string }
  /** The stream closed as soon as it opened, or came after the channel moved on: worth another try. */
  | { kind: 'dropped'; error: string }

export type ChannelEvent =
  /** The queue went from empty to not empty while no stream carries it. */
  | { type: 'channel.wanted' }
  /** The queue emptied (every message settled or given up) while no stream carries it. */
  | { type: 'channel.drained' }
  /** A stream of the pair was attached (the remote opened one, or one of ours opened late). */
  | { type: 'channel.streams'; streams: number }
  /** A usable stream from the remote carries the messages from now on: the peer is back. */
  | { type: 'channel.adopted' }
  /**
   * A stream of the pair ended. `carrier`: it was the one messages go out on; `lost`: messages
   * written on it and not acknowledged, now waiting again; `unsent`: messages wait to be written.
   */
  | { type: 'channel.ended'; carrier: boolean; lost: number; unsent: boolean; streams: number }
  /** An ack arrived after failures: the backoff starts over. */
  | { type: 'channel.progress' }
  /** The peer connected again: a pending backoff is cut short. */
  | { type: 'channel.wake' }
  /** The node stops: waiting messages fail with `reason`, streams close. */
  | { type: 'channel.close'; reason: string }
