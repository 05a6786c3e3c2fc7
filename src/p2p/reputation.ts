/** Reputation's public surface; the implementation is split across reputation/ (see reputation.ts there). */
export {
  BANS_FORMAT,
  BANS_VERSION,
  DEFAULT_VIOLATION_WEIGHT,
  DEFAULT_VIOLATION_WEIGHTS,
  LOCAL_FAILURE_FLOOR,
  MAX_BAN_SECONDS,
  Reputation,
} from './reputation/reputation.ts'
export type { ReputationEntry, ReputationEvents, ReputationOptions, ViolationKind } from './reputation/reputation.ts'
export { BanList } from './reputation/bans.ts'
export type { Ban } from './reputation/bans.ts'
