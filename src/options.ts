/** Each public options type, its defaults and its validation. */
import { InvalidOptionRangeError, InvalidOptionTypeError } from "./errors";

/** Options of {@link createAdapter}. */
export interface AdapterOptions {
  /**
   * The number of ms between two heartbeats, as in socket.io-adapter's ClusterAdapterWithHeartbeat.
   * Heartbeats are only a safety net for a hung worker: the hub announces a worker that exits at once.
   * @default 5_000
   */
  heartbeatInterval?: number;
  /**
   * The number of ms without a message from a server before it is considered down.
   * Must be greater than `heartbeatInterval`.
   * @default 10_000
   */
  heartbeatTimeout?: number;
  /**
   * How long `fetchSockets()` (without `io.timeout()`) and `serverSideEmit()` with an acknowledgement
   * wait for the answers of the other servers.
   * @default 5_000
   */
  requestsTimeout?: number;
  /**
   * The largest message this server sends to the others, in bytes of its encoded form (UTF-8 JSON;
   * binary counts as base64, 4/3 of its size). A larger broadcast, serverSideEmit or room operation
   * throws a MessageTooLargeError (code `SIO_IPC_ERR_MESSAGE_TOO_LARGE`) at the caller and is sent to
   * nobody; a larger answer (fetchSockets, acknowledgement) is dropped and counted in
   * `adapter.messagesTooLarge`. At most 256 MiB.
   * @default 67_108_864 (64 MiB)
   */
  maxMessageSize?: number;
  /**
   * PM2 cluster mode, where PM2's daemon is the cluster primary and relays nothing between workers:
   * `true` makes the workers of a group elect a hub among themselves and talk over Unix sockets
   * (also outside PM2, e.g. for processes started by another supervisor); `false` disables it.
   * @default detected: true when PM2 runs this process in cluster mode (env `pm_id` set and
   * `exec_mode` "cluster_mode")
   */
  pm2?: boolean;
  /**
   * PM2 mode: the workers that share broadcasts, rooms and requests. Apps with different groups
   * never talk to each other; give several PM2 apps the same group to make them one cluster.
   * @default the PM2 app name (env `name`), else "default"
   */
  group?: string;
}

export const DEFAULT_HEARTBEAT_INTERVAL = 5_000;
export const DEFAULT_HEARTBEAT_TIMEOUT = 10_000;
export const DEFAULT_REQUESTS_TIMEOUT = 5_000;
/**
 * 64 MiB. Measured on Node 20 (2 cores): one 64 MiB message takes about 1.3 s to cross one IPC hop
 * and costs about 4 times its size in RSS on each side, and the primary serializes it once per
 * worker; at 256 MiB the JSON channel takes 11 s.
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/**
 * 256 MiB: with `serialization: "json"`, Node writes the envelope as JSON, which escapes every quote
 * of the payload; beyond this, the escaped text may exceed V8's longest string (2^29 - 24 characters).
 */
export const MAX_MESSAGE_SIZE_LIMIT = 256 * 1024 * 1024;

/** The longest `group` name, in characters. */
export const MAX_GROUP_LENGTH = 256;

type DurationName = "heartbeatInterval" | "heartbeatTimeout" | "requestsTimeout";

/** Resolved options; `pm2` and `group` stay null when not given (detected later, in the worker). */
export type ResolvedAdapterOptions = Readonly<
  Required<Pick<AdapterOptions, DurationName | "maxMessageSize">> & { pm2: boolean | null; group: string | null }
>;

const ADAPTER_DEFAULTS: ResolvedAdapterOptions = Object.freeze({
  heartbeatInterval: DEFAULT_HEARTBEAT_INTERVAL,
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT,
  requestsTimeout: DEFAULT_REQUESTS_TIMEOUT,
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  pm2: null,
  group: null,
});

const DURATIONS: DurationName[] = ["heartbeatInterval", "heartbeatTimeout", "requestsTimeout"];

function describe(value: unknown): string {
  if (value === null) return "null";
  const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
  return `${shown} (${typeof value})`;
}

/** Checks that `options` is undefined or a plain object, and returns it as a record. */
export function checkOptionsObject(options: unknown, where: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new InvalidOptionTypeError(`${where} options must be an object, got ${describe(options)}`);
  }
  return options as Record<string, unknown>;
}

/** Checks one duration option: a positive, finite number of milliseconds. */
export function checkMilliseconds(name: string, value: unknown): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new InvalidOptionTypeError(`${name} must be a positive number of milliseconds, got ${describe(value)}`);
  }
  if (!(value > 0) || !Number.isFinite(value) || value > 2_147_483_647) {
    throw new InvalidOptionRangeError(
      `${name} must be a positive number of milliseconds up to 2147483647, got ${describe(value)}`,
    );
  }
  return value;
}

/** Checks a `maxMessageSize` option: a whole number of bytes from 1 to MAX_MESSAGE_SIZE_LIMIT. */
export function checkMessageSize(name: string, value: unknown): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new InvalidOptionTypeError(`${name} must be a positive whole number of bytes, got ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1 || value > MAX_MESSAGE_SIZE_LIMIT) {
    throw new InvalidOptionRangeError(
      `${name} must be a positive whole number of bytes up to ${MAX_MESSAGE_SIZE_LIMIT} (256 MiB), got ${describe(value)}`,
    );
  }
  return value;
}

/** Checks the `group` option: a non-empty string of at most MAX_GROUP_LENGTH characters, without NUL. */
export function checkGroup(value: unknown): string {
  if (typeof value !== "string") {
    throw new InvalidOptionTypeError(`group must be a string, got ${describe(value)}`);
  }
  if (value.length === 0 || value.length > MAX_GROUP_LENGTH || value.includes("\0")) {
    throw new InvalidOptionRangeError(
      `group must be 1 to ${MAX_GROUP_LENGTH} characters long, without NUL, got ${describe(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`,
    );
  }
  return value;
}

/** Checks a boolean option. */
export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new InvalidOptionTypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/** Spreads the user's adapter options over the defaults, checks each and returns a frozen object. */
export function resolveAdapterOptions(options?: AdapterOptions): ResolvedAdapterOptions {
  const given = checkOptionsObject(options, "createAdapter()");
  const resolved = { ...ADAPTER_DEFAULTS };
  for (const name of DURATIONS) {
    if (given[name] !== undefined) resolved[name] = checkMilliseconds(name, given[name]);
  }
  if (given.maxMessageSize !== undefined) {
    resolved.maxMessageSize = checkMessageSize("maxMessageSize", given.maxMessageSize);
  }
  if (given.pm2 !== undefined) {
    if (typeof given.pm2 !== "boolean") {
      throw new InvalidOptionTypeError(`pm2 must be a boolean (or left out to detect PM2), got ${describe(given.pm2)}`);
    }
    resolved.pm2 = given.pm2;
  }
  if (given.group !== undefined) resolved.group = checkGroup(given.group);
  if (resolved.heartbeatTimeout <= resolved.heartbeatInterval) {
    throw new InvalidOptionRangeError(
      `heartbeatTimeout (${resolved.heartbeatTimeout} ms) must be greater than heartbeatInterval (${resolved.heartbeatInterval} ms)`,
    );
  }
  return Object.freeze(resolved);
}
