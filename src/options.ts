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
}

export const DEFAULT_HEARTBEAT_INTERVAL = 5_000;
export const DEFAULT_HEARTBEAT_TIMEOUT = 10_000;
export const DEFAULT_REQUESTS_TIMEOUT = 5_000;

export type ResolvedAdapterOptions = Readonly<Required<AdapterOptions>>;

const ADAPTER_DEFAULTS: ResolvedAdapterOptions = Object.freeze({
  heartbeatInterval: DEFAULT_HEARTBEAT_INTERVAL,
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT,
  requestsTimeout: DEFAULT_REQUESTS_TIMEOUT,
});

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

/** Spreads the user's adapter options over the defaults, checks each and returns a frozen object. */
export function resolveAdapterOptions(options?: AdapterOptions): ResolvedAdapterOptions {
  const given = checkOptionsObject(options, "createAdapter()");
  const resolved = { ...ADAPTER_DEFAULTS };
  for (const name of Object.keys(ADAPTER_DEFAULTS) as (keyof ResolvedAdapterOptions)[]) {
    if (given[name] !== undefined) resolved[name] = checkMilliseconds(name, given[name]);
  }
  if (resolved.heartbeatTimeout <= resolved.heartbeatInterval) {
    throw new InvalidOptionRangeError(
      `heartbeatTimeout (${resolved.heartbeatTimeout} ms) must be greater than heartbeatInterval (${resolved.heartbeatInterval} ms)`,
    );
  }
  return Object.freeze(resolved);
}
