/**
 * An ioredis client (`new Redis()`, v5 and later) seen as the node-redis client the bridge is
 * written against (src/bridge/redis-client.ts). Nothing here imports ioredis: it is the user's.
 */
import type { RedisClientLike } from "./redis-client";

type Listener = (message: Buffer, channel: Buffer) => void;

/** The part of an ioredis client that the bridge uses. */
export interface IoRedisLike {
  status: string;
  call(command: string, ...args: (string | Buffer)[]): Promise<unknown>;
  duplicate(): IoRedisLike;
  connect(): Promise<void>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
}

/** True for an ioredis client: it has a `status` and `call()`, which node-redis has not. */
export function isIoRedis(client: unknown): client is IoRedisLike {
  const c = client as Record<string, unknown> | null;
  return !!c && typeof c === "object" && typeof c.status === "string" && typeof c.call === "function";
}

class IoRedisClient implements RedisClientLike {
  readonly #raw: IoRedisLike;
  /** One listener per channel, as node-redis keeps them; ioredis has one event for all. */
  #listeners = new Map<string, Listener>();
  #onMessage = (channel: Buffer, message: Buffer) => this.#listeners.get(channel.toString())?.(message, channel);

  constructor(raw: IoRedisLike) {
    this.#raw = raw;
  }

  get isReady(): boolean {
    return this.#raw.status === "ready";
  }

  get isOpen(): boolean {
    return this.#raw.status !== "wait" && this.#raw.status !== "end";
  }

  duplicate(): RedisClientLike {
    return new IoRedisClient(this.#raw.duplicate());
  }

  /** Resolves once ready. ioredis connects on its own unless `lazyConnect`, and rejects a second connect(). */
  connect(): Promise<unknown> {
    const raw = this.#raw;
    if (raw.status === "wait") return raw.connect();
    if (raw.status === "ready") return Promise.resolve();
    return new Promise((resolve) => raw.once("ready", resolve));
  }

  sendCommand(args: (string | Buffer)[]): Promise<unknown> {
    const [command, ...rest] = args;
    return this.#raw.call(String(command), ...rest);
  }

  subscribe(channels: string | string[], listener: Listener): Promise<unknown> {
    const list = Array.isArray(channels) ? channels : [channels];
    if (this.#listeners.size === 0) this.#raw.on("messageBuffer", this.#onMessage);
    for (const channel of list) this.#listeners.set(channel, listener);
    return this.#raw.subscribe(...list);
  }

  unsubscribe(channels: string | string[]): Promise<unknown> {
    const list = Array.isArray(channels) ? channels : [channels];
    for (const channel of list) this.#listeners.delete(channel);
    return this.#raw.unsubscribe(...list);
  }

  on(event: string, listener: (...args: any[]) => void): unknown {
    return this.#raw.on(event, listener);
  }

  off(event: string, listener: (...args: any[]) => void): unknown {
    return this.#raw.off(event, listener);
  }

  destroy(): void {
    this.#raw.disconnect();
  }
}

/** Wraps an ioredis client for the bridge. */
export function fromIoRedis(client: IoRedisLike): RedisClientLike {
  return new IoRedisClient(client);
}
