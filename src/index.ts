export { ClusterAdapter, createAdapter } from "./adapter";
export type { BridgeOptions } from "./bridge/options";
export type { RedisClientLike } from "./bridge/redis-client";
export { BroadcastOperator, Emitter, type EmitterOptions, RESERVED_EVENTS, type SocketDetails } from "./emitter";
export {
  ErrorCode,
  InvalidOptionRangeError,
  InvalidOptionTypeError,
  IpcAdapterError,
  MessageTooLargeError,
} from "./errors";
export type { HubStats } from "./hub/stats";
export type { AdapterOptions } from "./options";
export { PrimaryHub, type PrimaryOptions, setupPrimary } from "./primary";
export { UnserializableError } from "./protocol/codec";
export type { BridgeStats } from "./transports/redis-bridge";
export type { DefaultEventsMap, EventNames, EventParams, EventsMap } from "./typed-events";
