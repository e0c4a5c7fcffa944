export { ClusterAdapter, createAdapter } from "./adapter";
export { ErrorCode, InvalidOptionRangeError, InvalidOptionTypeError, IpcAdapterError } from "./errors";
export type { HubStats } from "./hub/stats";
export type { AdapterOptions } from "./options";
export { PrimaryHub, type PrimaryOptions, setupPrimary } from "./primary";
export { UnserializableError } from "./protocol/codec";
