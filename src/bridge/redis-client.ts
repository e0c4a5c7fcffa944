/**
 * What the bridge needs of a Redis client: the surface of node-redis (the `redis` package, v4 and
 * later); an ioredis client is wrapped to look the same (src/bridge/ioredis-client.ts). The library
 * is the user's (an optional peer dependency): nothing here imports it. Every command goes through
 * `sendCommand`, whose raw form is the same in node-redis v4, v5 and v6.
 */
import { InvalidOptionTypeError } from "../errors";
import { fromIoRedis, isIoRedis } from "./ioredis-client";

/** The part of a node-redis client (`createClient()` of the `redis` package, v4+) that the bridge uses. */
export interface RedisClientLike {
  duplicate(): RedisClientLike;
  connect(): Promise<unknown>;
  readonly isReady: boolean;
  readonly isOpen: boolean;
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  subscribe(
    channels: string | string[],
    listener: (message: Buffer, channel: Buffer) => void,
    bufferMode: true,
  ): Promise<unknown>;
  unsubscribe(
    channels: string | string[],
    listener: (message: Buffer, channel: Buffer) => void,
    bufferMode: true,
  ): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off?(event: string, listener: (...args: any[]) => void): unknown;
  /** v5+: closes at once. */
  destroy?(): void;
  /** v4: closes at once (v5+ keeps it as an alias of close()). */
  disconnect?(): Promise<void>;
}

/**
 * Checks that `client` is a client of node-redis (v4+) or ioredis (v5+), and returns what the bridge
 * talks to; throws a TypeError that says what to pass.
 */
export function checkRedisClient(client: unknown): RedisClientLike {
  const c = client as Record<string, unknown> | null;
  if (c && typeof c === "object" && (Array.isArray(c.masters) || typeof c.nodes === "function")) {
    throw new InvalidOptionTypeError(
      "bridge.redis is a Redis Cluster client, which the bridge does not support yet; pass a client of one Redis server: createClient({ url }) or new Redis(url)",
    );
  }
  if (isIoRedis(c)) return fromIoRedis(c);
  for (const method of ["duplicate", "connect", "sendCommand", "subscribe", "unsubscribe", "on"]) {
    if (!c || typeof c[method] !== "function") {
      throw new InvalidOptionTypeError(
        `bridge.redis must be a client of the redis package (v4 or later, createClient({ url })) or of ioredis (v5 or later, new Redis(url)); got ${c === null ? "null" : typeof c}${c && typeof c === "object" ? ` without ${method}()` : ""}`,
      );
    }
  }
  return c as unknown as RedisClientLike;
}

/** Closes a connection the bridge opened (never the user's own). */
export function closeClient(client: RedisClientLike): void {
  try {
    if (typeof client.destroy === "function") client.destroy();
    else client.disconnect?.().catch(() => {});
  } catch {
    // already closed
  }
}
