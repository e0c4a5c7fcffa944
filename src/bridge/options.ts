/** The options of the Redis bridge (`setupPrimary({ bridge })`), their defaults and their validation. */
import { InvalidOptionRangeError, InvalidOptionTypeError } from "../errors";
import { checkMilliseconds, checkOptionsObject } from "../options";
import { checkRedisClient, type RedisClientLike } from "./redis-client";

/**
 * Options of the Redis bridge. The names and defaults of the wire settings are those of
 * `@socket.io/redis-streams-adapter`: give both the same values to make them meet.
 */
export interface BridgeOptions {
  /**
   * A client of the `redis` package (v4 or later, `createClient()`) or of `ioredis` (v5 or later,
   * `new Redis()`), for one Redis server. The bridge sends its commands on it and opens duplicates
   * for reading (one blocking XREAD, one subscriber). Connect it yourself; the bridge never closes it.
   */
  redis: RedisClientLike | object;
  /** The name of the Redis stream. @default "socket.io" */
  streamName?: string;
  /** The number of streams; namespaces are spread over them by name. @default 1 */
  streamCount?: number;
  /** The prefix of the PUB/SUB channels. @default "socket.io" */
  channelPrefix?: string;
  /** The approximate maximum length of the stream (XADD MAXLEN ~). @default 10_000 */
  maxLen?: number;
  /** Entries read per XREAD. @default 100 */
  readCount?: number;
  /** How long (ms) one XREAD blocks before it is sent again. @default 5_000 */
  blockTimeInMs?: number;
  /**
   * How often (ms) the bridge lists the servers of the other machines and tells the local workers
   * that they are alive. Keep it below the workers' `heartbeatTimeout`. @default 5_000
   */
  heartbeatInterval?: number;
  /**
   * A remote server not heard of (neither listed by Redis nor sending) for this long (ms) is
   * removed; so is every remote server once Redis has been unreachable this long. @default 10_000
   */
  heartbeatTimeout?: number;
  /**
   * Servers on `@socket.io/redis-streams-adapter` count servers with PUBSUB NUMSUB, one per
   * subscribed connection. To be counted once per worker by them, the bridge opens one more
   * subscriber connection per local server beyond the first: always (`true`), never (`false`: a
   * machine holds 3 connections, and those servers count it as one), or only while Redis lists at
   * least one server on that adapter (`"auto"`: 3 connections otherwise; they open within two
   * `heartbeatInterval`s of its arrival and close `heartbeatTimeout` after the last one left).
   * @default "auto"
   */
  countEachServer?: boolean | "auto";
}

export type ResolvedBridgeOptions = Readonly<Required<Omit<BridgeOptions, "redis">> & { redis: RedisClientLike }>;

export const BRIDGE_DEFAULTS = Object.freeze({
  streamName: "socket.io",
  streamCount: 1,
  channelPrefix: "socket.io",
  maxLen: 10_000,
  readCount: 100,
  blockTimeInMs: 5_000,
  heartbeatInterval: 5_000,
  heartbeatTimeout: 10_000,
  countEachServer: "auto",
});

function describe(value: unknown): string {
  return `${typeof value === "string" ? JSON.stringify(value) : String(value)} (${typeof value})`;
}

function checkName(name: string, value: unknown): string {
  if (typeof value !== "string" || value === "") {
    throw new InvalidOptionTypeError(`bridge.${name} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function checkCount(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new InvalidOptionTypeError(`bridge.${name} must be a positive integer, got ${describe(value)}`);
  }
  if (value < 1) throw new InvalidOptionRangeError(`bridge.${name} must be a positive integer, got ${describe(value)}`);
  return value;
}

/** Spreads the user's bridge options over the defaults, checks each and returns a frozen object. */
export function resolveBridgeOptions(options: unknown): ResolvedBridgeOptions {
  const given = checkOptionsObject(options, "setupPrimary() bridge");
  const redis = checkRedisClient(given.redis);
  const pick = <K extends keyof typeof BRIDGE_DEFAULTS>(key: K) => given[key] ?? BRIDGE_DEFAULTS[key];
  const countEachServer: unknown = pick("countEachServer");
  if (typeof countEachServer !== "boolean" && countEachServer !== "auto") {
    throw new InvalidOptionTypeError(
      `bridge.countEachServer must be true, false or "auto", got ${describe(countEachServer)}`,
    );
  }
  const resolved = {
    redis,
    streamName: checkName("streamName", pick("streamName")),
    streamCount: checkCount("streamCount", pick("streamCount")),
    channelPrefix: checkName("channelPrefix", pick("channelPrefix")),
    maxLen: checkCount("maxLen", pick("maxLen")),
    readCount: checkCount("readCount", pick("readCount")),
    blockTimeInMs: checkMilliseconds("bridge.blockTimeInMs", pick("blockTimeInMs")),
    heartbeatInterval: checkMilliseconds("bridge.heartbeatInterval", pick("heartbeatInterval")),
    heartbeatTimeout: checkMilliseconds("bridge.heartbeatTimeout", pick("heartbeatTimeout")),
    countEachServer: countEachServer as boolean | "auto",
  };
  if (resolved.heartbeatTimeout <= resolved.heartbeatInterval) {
    throw new InvalidOptionRangeError(
      `bridge.heartbeatTimeout (${resolved.heartbeatTimeout} ms) must be greater than bridge.heartbeatInterval (${resolved.heartbeatInterval} ms)`,
    );
  }
  return Object.freeze(resolved);
}
