/**
 * The bridge's Redis connections, and nothing about the hub: the user's client sends (XADD,
 * PUBLISH, PUBSUB CHANNELS); one duplicate blocks on XREAD; one duplicate subscribes. While the
 * bridge counts each server (`countEachServer`), a few more duplicates only hold subscriptions to
 * public channels, so that PUBSUB NUMSUB (how `@socket.io/redis-streams-adapter` counts servers)
 * counts each local server.
 *
 * node-redis reconnects each connection by itself, with its `reconnectStrategy` (a growing delay),
 * and subscribes again after a reconnection. What is sent while a connection is down is dropped
 * here, never queued: a late broadcast is worse than a lost one, and a queue would grow unbounded.
 */
import debugModule from "debug";
import type { ResolvedBridgeOptions } from "./options";
import { closeClient, type RedisClientLike } from "./redis-client";
import { readXReadReply, type StreamFields, streamsOf } from "./wire";

const debug = debugModule("socket.io-ipc-adapter:bridge");

/** The longest pause between two XREAD attempts while the reader is down. */
const MAX_READ_BACKOFF = 2_000;
/** How long an outgoing request waits for its requester's channel to be subscribed. */
export const SUBSCRIBE_WAIT = 1_000;

type PubSubListener = (message: Buffer, channel: Buffer) => void;

/** What the bridge does with what Redis brings. */
export interface RedisIoHandlers {
  /** A stream entry, in stream order. */
  entry(fields: StreamFields): void;
  /** A PUB/SUB message on a channel the subscriber follows. */
  message(channel: string, payload: Buffer): void;
}

/** The bridge's Redis connections: see the top of this file. */
export class RedisIo {
  readonly #opts: ResolvedBridgeOptions;
  readonly #handlers: RedisIoHandlers;
  readonly #writer: RedisClientLike;
  readonly #reader: RedisClientLike;
  readonly #subscriber: RedisClientLike;
  /** Connections that only hold subscriptions, for PUBSUB NUMSUB; index i holds the namespaces whose count > i + 1. */
  #presence: { client: RedisClientLike; channels: Set<string>; chain: Promise<unknown> }[] = [];
  #presenceWanted = new Map<string, number>();
  #subscriberUp: Promise<void>;
  #channels = new Map<string, Promise<void>>();
  /** Channels whose SUBSCRIBE Redis confirmed. */
  #confirmed = new Set<string>();
  #offsets = new Map<string, string>();
  #closed = false;
  #wake: (() => void) | null = null;
  #readyOnce = new WeakSet<RedisClientLike>();
  reconnects = 0;
  readonly #onMessage: PubSubListener = (payload, channel) => this.#handlers.message(channel.toString(), payload);
  readonly #ignore: PubSubListener = () => {};

  constructor(opts: ResolvedBridgeOptions, handlers: RedisIoHandlers) {
    this.#opts = opts;
    this.#handlers = handlers;
    this.#writer = opts.redis;
    this.#watch(this.#writer, "writer");
    this.#reader = this.#open("reader");
    this.#subscriber = this.#open("subscriber");
    this.#subscriberUp = this.#subscriber.connect().then(
      () => {},
      (error) => debug("subscriber: %s", error.message),
    );
    this.#reader.connect().then(
      () => this.#readLoop(),
      (error) => debug("reader: %s", error.message),
    );
  }

  /** True while every connection of the bridge is ready. */
  get connected(): boolean {
    return (
      this.#writer.isReady &&
      this.#reader.isReady &&
      this.#subscriber.isReady &&
      this.#presence.every((p) => p.client.isReady)
    );
  }

  /** The connections the bridge uses, the user's own included. */
  get connections(): number {
    return 3 + this.#presence.length;
  }

  /** Sends a command on the writer, or returns false at once when it is down. */
  command(args: (string | Buffer)[], onFailure: (error: Error) => void): boolean {
    if (this.#closed || !this.#writer.isReady) return false;
    this.#writer.sendCommand(args).catch(onFailure);
    return true;
  }

  /** PUBSUB CHANNELS `pattern`, or null when the writer is down or the command fails. */
  async channels(pattern: string): Promise<string[] | null> {
    if (this.#closed || !this.#writer.isReady) return null;
    try {
      const reply = await this.#writer.sendCommand(["PUBSUB", "CHANNELS", pattern]);
      return Array.isArray(reply) ? reply.map(String) : null;
    } catch (error) {
      debug("PUBSUB CHANNELS failed: %s", (error as Error).message);
      return null;
    }
  }

  /**
   * Subscribes the subscriber to `channel`. Returns null when Redis has confirmed it already, else
   * a promise that settles once it has (or could not).
   */
  subscribe(channel: string): Promise<void> | null {
    if (this.#confirmed.has(channel)) return null;
    let done = this.#channels.get(channel);
    if (!done) {
      const mine: Promise<void> = this.#subscriberUp
        .then(() => this.#subscriber.subscribe(channel, this.#onMessage, true))
        .then(
          () => {
            // Not if it was unsubscribed meanwhile, or subscribed again (then that SUBSCRIBE confirms).
            if (this.#channels.get(channel) === mine) this.#confirmed.add(channel);
            debug("subscribed to %s", channel);
          },
          (error) => debug("could not subscribe to %s: %s", channel, error.message),
        );
      done = mine;
      this.#channels.set(channel, done);
    }
    return done;
  }

  unsubscribe(channel: string): void {
    this.#confirmed.delete(channel);
    if (!this.#channels.delete(channel)) return;
    this.#subscriberUp
      .then(() => this.#subscriber.unsubscribe(channel, this.#onMessage, true))
      .catch((error) => debug("could not unsubscribe from %s: %s", channel, error.message));
  }

  /**
   * Makes `extra` presence connections subscribe to `channel` (0 releases it); connections no
   * longer needed are closed.
   */
  setPresence(channel: string, extra: number): void {
    if (this.#closed) return;
    if (extra > 0) this.#presenceWanted.set(channel, extra);
    else this.#presenceWanted.delete(channel);
    const size = Math.max(0, ...this.#presenceWanted.values());
    while (this.#presence.length < size) {
      const client = this.#open(`presence ${this.#presence.length + 1}`);
      const chain = client.connect().catch((error) => debug("presence connection: %s", error.message));
      this.#presence.push({ client, channels: new Set(), chain });
    }
    for (let i = 0; i < this.#presence.length; i++) {
      const entry = this.#presence[i];
      const wanted = extra > i;
      if (wanted === entry.channels.has(channel)) continue;
      if (wanted) entry.channels.add(channel);
      else entry.channels.delete(channel);
      // In order on each connection: a quick up-down-up must end subscribed.
      entry.chain = entry.chain
        .then(() =>
          wanted
            ? entry.client.subscribe(channel, this.#ignore, true)
            : entry.client.unsubscribe(channel, this.#ignore, true),
        )
        .catch((error) => debug("presence: %s", error.message));
    }
    for (const { client } of this.#presence.splice(size)) closeClient(client);
  }

  /** Closes the connections the bridge opened; the user's client stays open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    this.#writer.off?.("ready", this.#onWriterReady);
    for (const client of [this.#reader, this.#subscriber, ...this.#presence.map((p) => p.client)]) closeClient(client);
    this.#presence = [];
  }

  readonly #onWriterReady = () => this.#ready(this.#writer, "writer");

  #open(name: string): RedisClientLike {
    const client = this.#writer.duplicate();
    this.#watch(client, name);
    return client;
  }

  #watch(client: RedisClientLike, name: string): void {
    if (client === this.#writer) {
      if (client.isReady) this.#readyOnce.add(client);
      client.on("ready", this.#onWriterReady);
      return;
    }
    // An 'error' event with no listener would crash the primary.
    client.on("error", (error: Error) => debug("%s: %s", name, error.message));
    client.on("ready", () => this.#ready(client, name));
  }

  #ready(client: RedisClientLike, name: string): void {
    if (this.#readyOnce.has(client)) {
      this.reconnects++;
      debug("%s reconnected", name);
    } else {
      this.#readyOnce.add(client);
      debug("%s connected", name);
    }
  }

  async #readLoop(): Promise<void> {
    const streams = streamsOf(this.#opts.streamName, this.#opts.streamCount);
    let backoff = 0;
    while (!this.#closed) {
      try {
        if (!this.#reader.isReady) throw new Error("the reader is not connected");
        if (this.#offsets.size === 0) await this.#startOffsets(streams);
        const reply = await this.#reader.sendCommand([
          "XREAD",
          "COUNT",
          String(this.#opts.readCount),
          "BLOCK",
          String(this.#opts.blockTimeInMs),
          "STREAMS",
          ...streams,
          ...streams.map((s) => this.#offsets.get(s) ?? "$"),
        ]);
        backoff = 0;
        for (const [stream, id, fields] of readXReadReply(reply)) {
          this.#offsets.set(stream, id);
          if (this.#closed) return;
          this.#handlers.entry(fields);
        }
      } catch (error) {
        if (this.#closed) return;
        backoff = Math.min(Math.max(backoff * 2, 100), MAX_READ_BACKOFF);
        debug("XREAD failed (%s); next attempt in %d ms", (error as Error).message, backoff);
        await this.#sleep(backoff);
      }
    }
  }

  /**
   * Starts each stream after its last entry. Not "$" on every XREAD: entries added between two
   * XREADs would be missed. After a Redis restart that lost the stream, the old offsets stay valid:
   * new ids are time-based and larger.
   */
  async #startOffsets(streams: string[]): Promise<void> {
    for (const stream of streams) {
      const reply = await this.#reader.sendCommand(["XREVRANGE", stream, "+", "-", "COUNT", "1"]);
      const last = Array.isArray(reply) && Array.isArray(reply[0]) ? String(reply[0][0]) : "0-0";
      this.#offsets.set(stream, last);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wake = null;
        resolve();
      }
      this.#wake = done;
    });
  }
}
