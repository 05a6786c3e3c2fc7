/** When our pruner acts: above `high` connections it closes down to `low`, sparing the young ones. */
export interface Watermarks {
  high: number
  low: number
  graceMs: number
}

/**
 * libp2p's own limit, well above our high watermark: its pruner (which knows nothing of protected
 * peers) then never fires before ours, while it still refuses inbound connections in a flood that
 * outruns ours.
 */
export function libp2pMaxConnections(high: number): number {
  return Math.max(high * 2, high + 64)
}
