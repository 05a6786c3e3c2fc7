import { DEFAULT_LISTEN } from '../../src/config.ts'

/**
 * Every default transport (TCP, WebSockets, WebRTC-direct) as `npm start` has them, bound to
 * 127.0.0.1 instead of every interface: tests of the defaults never reach a non-loopback address.
 */
export const LOOPBACK_DEFAULT_LISTEN: string[] = DEFAULT_LISTEN.map((addr) => addr.replace('/ip4/0.0.0.0/', '/ip4/127.0.0.1/'))
