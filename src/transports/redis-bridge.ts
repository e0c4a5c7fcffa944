/**
 * The Redis bridge: one more link of the hub, which carries the whole machine to Redis in the wire
 * format of `@socket.io/redis-streams-adapter` (see src/bridge/wire.ts). The workers do not know it
 * is there; routing stays in the hub:
 * - a PUBLISH from a local member leaves the machine once (XADD, or PUBLISH for a request), the hub
 *   having fanned it out locally already;
 * - a stream entry or a request from another machine comes in as a PUBLISH, a response to a local
 *   requester as a RESPONSE;
 * - every server and emitter of other machines is a member of this link (a HELLO the bridge makes up
 *   for it), so that the hub routes responses to them here, and tells the workers when they leave.
 * Local heartbeats stay local: Redis lists every server's private channel, and the bridge tells the
 * local workers which remote servers are alive, as heartbeats would. The same listing tells which
 * servers run the streams adapter, for `countEachServer: "auto"` (src/bridge/official.ts).
 */
import debugModule from "debug";
import { type ClusterMessage, MessageType } from "socket.io-adapter";
import { RemoteMembers, roleOf } from "../bridge/members";
import { OfficialServers } from "../bridge/official";
import type { ResolvedBridgeOptions } from "../bridge/options";
import { RedisIo, SUBSCRIBE_WAIT } from "../bridge/redis-io";
import {
  escapeGlob,
  fromPubSubPayload,
  fromStreamFields,
  isEphemeral,
  markerChannel,
  parseChannel,
  privateChannel,
  publicChannel,
  readListing,
  type StreamFields,
  streamOf,
  toPubSubPayload,
  toStreamFields,
} from "../bridge/wire";
import type { Hub } from "../hub/hub";
import { decode, encodeLenient } from "../protocol/codec";
import { type Envelope, envelope, Kind } from "../protocol/messages";
import { type Link, type LinkKind, ListenedLink } from "./link";

const debug = debugModule("socket.io-ipc-adapter:bridge");

/** How many uids of local members that left are remembered, to recognise their late echoes. */
const FORMER_LOCALS = 10_000;

/** The bridge's counters, merged into `hub.stats()` when a bridge is configured. */
export interface BridgeStats {
  /** True while every Redis connection of the bridge is ready. */
  bridgeConnected: boolean;
  /**
   * The Redis connections the bridge uses (the client you passed included): 3, plus one per local
   * server beyond the first while servers on the streams adapter are counted (`countEachServer`).
   */
  bridgeConnections: number;
  /** Times one of these connections came back after it was lost. */
  bridgeReconnects: number;
  /**
   * Servers on other machines, by uid: one per worker process of socket.io-ipc-adapter, one per
   * namespace of a server on `@socket.io/redis-streams-adapter`.
   */
  bridgeRemoteServers: number;
  /**
   * Of those, the servers on `@socket.io/redis-streams-adapter` (one per namespace of each) that the
   * last listing showed in a namespace served here: with `countEachServer: "auto"`, the bridge counts
   * each local server while there are any (and for `heartbeatTimeout` after the last one left).
   */
  bridgeOfficialServers: number;
  /** Messages sent to Redis (XADD or PUBLISH). */
  bridgeMessagesOut: number;
  /** Messages from Redis delivered to the hub (stream entries and PUB/SUB messages). */
  bridgeMessagesIn: number;
  /** Messages for other machines lost because Redis was unreachable or refused the command. */
  bridgeDropped: number;
  /** Messages from Redis that could not be read, ignored. */
  bridgeRejected: number;
}

/** The hub's link to Redis: see the top of this file. It adds itself to `hub` and starts at once. */
export class RedisBridgeLink extends ListenedLink implements Link {
  readonly name = "the redis bridge";
  readonly kind: LinkKind = "bridge";
  readonly #opts: ResolvedBridgeOptions;
  readonly #hub: Hub;
  readonly #io: RedisIo;
  readonly #members: RemoteMembers;
  readonly #official: OfficialServers;
  /** Local servers and the namespaces they serve (from the hub's NAMESPACE notices). */
  #local = new Map<string, Set<string>>();
  /** Local emitters and the namespaces whose private channel is subscribed for their requests. */
  #localEmitters = new Map<string, Set<string>>();
  #formerLocals = new Set<string>();
  /** The number of local servers per namespace. */
  #servers = new Map<string, number>();
  #timer: NodeJS.Timeout;
  #ticking = false;
  #closed = false;
  /** The outgoing messages waiting behind a request whose requester is not subscribed yet. */
  #tail: Promise<void> | null = null;
  #queued = 0;
  #counters = { out: 0, in: 0, dropped: 0, rejected: 0 };

  constructor(opts: ResolvedBridgeOptions, hub: Hub) {
    super();
    this.#opts = opts;
    this.#hub = hub;
    this.#members = new RemoteMembers(
      {
        joined: (uid, role) => this.#emit(envelope({ k: Kind.HELLO, uid, role })),
        namespace: (uid, n, up) => {
          this.#emit(envelope({ k: Kind.NAMESPACE, uid, n, up }));
          // The workers count servers per namespace: one that closes a namespace leaves it there.
          if (!up) this.#inject({ uid, nsp: n, type: MessageType.ADAPTER_CLOSE } as ClusterMessage);
        },
        alive: (uid, nsp) => this.#inject({ uid, nsp, type: MessageType.HEARTBEAT } as ClusterMessage),
        left: (uid) => this.#hub.removeMember(this, uid),
      },
      opts.heartbeatTimeout,
    );
    this.#official = new OfficialServers(opts.heartbeatTimeout);
    this.#io = new RedisIo(opts, {
      entry: (fields) => this.#onEntry(fields),
      message: (c, p) => this.#onMessage(c, p),
    });
    this.#timer = setInterval(() => this.#tick(), opts.heartbeatInterval).unref();
    hub.addLink(this);
    // The servers already on Redis (which may never send anything) are known without waiting a round.
    setImmediate(() => this.#tick());
    debug("bridge to stream %s, channels %s#…", opts.streamName, opts.channelPrefix);
  }

  get queued(): number {
    return this.#queued;
  }

  stats(): BridgeStats {
    return {
      bridgeConnected: this.#io.connected,
      bridgeConnections: this.#io.connections,
      bridgeReconnects: this.#io.reconnects,
      bridgeRemoteServers: this.#members.servers,
      bridgeOfficialServers: this.#official.count,
      bridgeMessagesOut: this.#counters.out,
      bridgeMessagesIn: this.#counters.in,
      bridgeDropped: this.#counters.dropped,
      bridgeRejected: this.#counters.rejected,
    };
  }

  /** From the hub: local traffic for other machines, and notices about local members. */
  send(message: Envelope): void {
    if (this.#closed) return;
    switch (message.k) {
      case Kind.PUBLISH:
        return this.#publish(message.d);
      case Kind.RESPONSE:
        return this.#respond(message.to, message.d);
      case Kind.NAMESPACE:
        if (message.uid !== undefined && !this.#members.has(message.uid))
          this.#localNamespace(message.uid, message.n, message.up);
        return;
      case Kind.LEFT:
        return this.#localLeft(message.uid);
    }
    // WELCOME answers the HELLOs made up for remote members: nothing to do.
  }

  override onDropped(): void {
    // Messages lost on the way to Redis are counted in bridgeDropped, apart from the hub's own.
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#io.close();
    debug("bridge closed");
    this.listeners.closed();
  }

  #isLocal(uid: string): boolean {
    return this.#local.has(uid) || this.#localEmitters.has(uid) || this.#formerLocals.has(uid);
  }

  #publish(d: string): void {
    let message: ClusterMessage;
    try {
      message = decode(d) as ClusterMessage;
    } catch (error) {
      this.#counters.rejected++;
      return debug("drop an undecodable local message: %s", (error as Error).message);
    }
    const { uid, nsp, type } = message;
    // Whatever the hub sends here comes from a local member: a server it told about, or an emitter.
    if (!this.#local.has(uid) && !this.#localEmitters.has(uid)) this.#localEmitters.set(uid, new Set());
    if (type === MessageType.HEARTBEAT) return;
    // A server that starts learns the remote servers now, not at the next round.
    if (type === MessageType.INITIAL_HEARTBEAT) this.#members.announce(nsp);
    if (!isEphemeral(message)) {
      const fields = toStreamFields(message);
      const args = ["XADD", streamOf(nsp, this.#opts.streamName, this.#opts.streamCount), "MAXLEN", "~"];
      args.push(String(this.#opts.maxLen), "*");
      for (const key in fields) args.push(key, fields[key]);
      return this.#send(null, args, type);
    }
    // The answers come on the requester's private channel: it must be subscribed before the request leaves.
    this.#localEmitters.get(uid)?.add(nsp);
    const ready = this.#io.subscribe(privateChannel(this.#opts.channelPrefix, nsp, uid));
    this.#send(ready, ["PUBLISH", publicChannel(this.#opts.channelPrefix, nsp), toPubSubPayload(message)], type);
  }

  #respond(to: string, d: string): void {
    let response: ClusterMessage;
    try {
      response = decode(d) as ClusterMessage;
    } catch (error) {
      this.#counters.rejected++;
      return debug("drop an undecodable local response: %s", (error as Error).message);
    }
    const channel = privateChannel(this.#opts.channelPrefix, response.nsp, to);
    this.#send(null, ["PUBLISH", channel, toPubSubPayload(response)], response.type);
  }

  /** Sends in order; a request whose requester is not subscribed yet holds back what follows it. */
  #send(wait: Promise<void> | null, args: (string | Buffer)[], type: number): void {
    if (!wait && !this.#tail) return this.#command(args, type);
    this.#queued++;
    let timer: NodeJS.Timeout | undefined;
    const waited = wait && Promise.race([wait, new Promise<void>((r) => (timer = setTimeout(r, SUBSCRIBE_WAIT)))]);
    const tail: Promise<void> = (this.#tail ?? Promise.resolve())
      .then(() => waited)
      .then(() => {
        clearTimeout(timer);
        this.#queued--;
        this.#command(args, type);
        if (this.#tail === tail) this.#tail = null;
      });
    this.#tail = tail;
  }

  #command(args: (string | Buffer)[], type: number): void {
    const sent = this.#io.command(args, (error) => {
      this.#counters.dropped++;
      debug("Redis refused %s (type %d): %s", args[0], type, error.message);
    });
    if (sent) this.#counters.out++;
    else {
      this.#counters.dropped++;
      debug("drop a message of type %d: Redis is unreachable", type);
    }
  }

  #localNamespace(uid: string, nsp: string, up: boolean): void {
    let namespaces = this.#local.get(uid);
    if (up === (namespaces?.has(nsp) ?? false)) return;
    if (!namespaces) {
      namespaces = new Set();
      this.#local.set(uid, namespaces);
      // Before its private channel, on the same connection: no listing shows one without the other.
      this.#io.subscribe(markerChannel(this.#opts.channelPrefix, uid));
    }
    const channel = privateChannel(this.#opts.channelPrefix, nsp, uid);
    if (up) {
      namespaces.add(nsp);
      this.#io.subscribe(channel);
    } else {
      namespaces.delete(nsp);
      this.#io.unsubscribe(channel);
    }
    const count = (this.#servers.get(nsp) ?? 0) + (up ? 1 : -1);
    if (count > 0) this.#servers.set(nsp, count);
    else this.#servers.delete(nsp);
    // The subscriber's own subscription to the public channel brings requests, and counts one server.
    const channelOfAll = publicChannel(this.#opts.channelPrefix, nsp);
    if (up && count === 1) this.#io.subscribe(channelOfAll);
    if (!up && count === 0) this.#io.unsubscribe(channelOfAll);
    this.#io.setPresence(channelOfAll, this.#countEach ? count - 1 : 0);
    debug("local server %s %s namespace %s (%d here)", uid, up ? "opened" : "closed", nsp, count);
  }

  #localLeft(uid: string): void {
    const server = this.#local.get(uid);
    if (server) for (const nsp of [...server]) this.#localNamespace(uid, nsp, false);
    const emitter = this.#localEmitters.get(uid);
    if (emitter) for (const nsp of emitter) this.#io.unsubscribe(privateChannel(this.#opts.channelPrefix, nsp, uid));
    if (!server && !emitter) return;
    // After its private channels (unsubscribed above, in order on the subscriber).
    if (server) this.#io.unsubscribe(markerChannel(this.#opts.channelPrefix, uid));
    this.#local.delete(uid);
    this.#localEmitters.delete(uid);
    this.#formerLocals.add(uid);
    if (this.#formerLocals.size > FORMER_LOCALS) this.#formerLocals.delete(this.#formerLocals.values().next().value!);
  }

  /** Whether the bridge opens one subscriber connection per local server: see `countEachServer`. */
  get #countEach(): boolean {
    const mode = this.#opts.countEachServer;
    return mode === "auto" ? this.#official.present : mode;
  }

  #serves(namespaces: Set<string>): boolean {
    for (const nsp of namespaces) if (this.#servers.has(nsp)) return true;
    return false;
  }

  #onEntry(fields: StreamFields): void {
    const { uid, nsp } = fields;
    // Our own entries come back, and entries for namespaces nobody here serves are no one's business.
    if (!nsp || this.#isLocal(uid) || !this.#servers.has(nsp)) return;
    let message: ClusterMessage;
    try {
      message = fromStreamFields(fields);
    } catch (error) {
      this.#counters.rejected++;
      return debug("ignore an unreadable stream entry from %s: %s", uid, (error as Error).message);
    }
    if (message.type === MessageType.ADAPTER_CLOSE) return this.#members.closed(uid, nsp);
    this.#members.heard(uid, nsp);
    if (message.type === MessageType.INITIAL_HEARTBEAT || message.type === MessageType.HEARTBEAT) return;
    this.#counters.in++;
    this.#inject(message);
  }

  #onMessage(channel: string, payload: Buffer): void {
    const target = parseChannel(this.#opts.channelPrefix, channel);
    if (!target) return;
    let message: Record<string, unknown>;
    try {
      message = fromPubSubPayload(payload);
    } catch (error) {
      this.#counters.rejected++;
      return debug("ignore an unreadable message on %s: %s", channel, (error as Error).message);
    }
    const from = message.uid as string;
    if (this.#isLocal(from)) return;
    this.#members.heard(from, target.nsp);
    this.#counters.in++;
    const d = encodeLenient(message);
    if (target.uid === null) this.#emit(envelope({ k: Kind.PUBLISH, d }));
    else this.#emit(envelope({ k: Kind.RESPONSE, to: target.uid, d }));
  }

  #inject(message: ClusterMessage): void {
    this.#emit(envelope({ k: Kind.PUBLISH, d: encodeLenient(message) }));
  }

  #emit(message: Envelope): void {
    this.listeners.message(message);
  }

  /** Opens or closes the per-server connections when servers on the streams adapter came or left. */
  #officialChanged(): void {
    const mode = this.#opts.countEachServer;
    debug("streams-adapter servers %s (countEachServer: %s)", this.#official.present ? "listed" : "gone", mode);
    if (mode !== "auto") return;
    const prefix = this.#opts.channelPrefix;
    for (const [nsp, n] of this.#servers) this.#io.setPresence(publicChannel(prefix, nsp), this.#countEach ? n - 1 : 0);
  }

  /** Lists the servers of every machine, forgets the silent ones, and tells the workers who is alive. */
  async #tick(): Promise<void> {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    try {
      const prefix = this.#opts.channelPrefix;
      const channels = await this.#io.channels(`${escapeGlob(prefix)}#*`);
      if (this.#closed) return;
      const now = Date.now();
      if (channels) {
        const { servers, markers } = readListing(prefix, channels);
        for (const uid of servers.keys()) if (this.#isLocal(uid)) servers.delete(uid);
        this.#members.listed(servers, now);
        // Only the servers of a namespace served here count this machine's servers.
        const counting = [...servers].filter(([uid, nsps]) => roleOf(uid) === "server" && this.#serves(nsps));
        if (this.#official.update(new Set(counting.map(([uid]) => uid)), markers, now)) this.#officialChanged();
      }
      this.#members.expire(now);
      this.#members.announce();
    } finally {
      this.#ticking = false;
    }
  }
}
