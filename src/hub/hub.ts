/**
 * Routing between the members of the cluster. The hub knows links and members, never transports:
 * a link is a worker, a helper, the primary's own emitter or a Unix socket connection alike.
 *
 * - PUBLISH from any member goes to every server on another link, as is (never re-encoded); a
 *   broadcast to rooms skips the servers that report their rooms (ROOMS) and have none of them.
 * - RESPONSE goes to the one member it is addressed to.
 * - When a link closes, every other member hears at once that its members LEFT: requests waiting on
 *   them settle without waiting for a heartbeat timeout.
 */
import debugModule from "debug";
import { QueueOverflowError } from "../errors";
import { DEFAULT_MAX_MESSAGE_SIZE } from "../options";
import { sizeAbove } from "../protocol/codec";
import {
  type Batch,
  checkEnvelope,
  type Envelope,
  envelope,
  isOwnMessage,
  Kind,
  type Left,
  MESSAGE_SOURCE,
  type Namespace,
  PROTOCOL_VERSION,
  type Publish,
  type Role,
  type Rooms,
  reportVersionSkew,
  unbatch,
} from "../protocol/messages";
import type { Link } from "../transports/link";
import { FlowControl } from "./flow";
import { RecoveryLog } from "./recovery";
import { Counters, type HubStats } from "./stats";

const debug = debugModule("socket.io-ipc-adapter:hub");

interface Member {
  uid: string;
  role: Role;
  link: Link;
  namespaces: Set<string>;
}

export interface HubOptions {
  /** Messages whose payload is larger (in UTF-8 bytes) are dropped and counted, never forwarded. */
  maxMessageSize?: number;
}

export class Hub {
  #maxMessageSize: number;
  #links = new Map<Link, Set<Member>>();
  #members = new Map<string, Member>();
  /** Links with at least one server member: the destinations of PUBLISH. */
  #serverLinks: Link[] = [];
  /** Links with at least one emitter member: they follow namespace events. */
  #emitterLinks: Link[] = [];
  /** For servers that report their rooms: per link, per namespace, the rooms with a member there. */
  #rooms = new Map<Link, Map<string, Set<string>>>();
  #counters = new Counters();
  #flow = new FlowControl(this.#counters);
  #recovery = new RecoveryLog();
  #closed = false;
  #closeListeners: (() => void)[] = [];

  constructor(options: HubOptions = {}) {
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts relaying for a link; closing the link (or the hub) stops it. */
  addLink(link: Link): void {
    if (this.#closed || this.#links.has(link)) return;
    this.#links.set(link, new Set());
    link.onMessage((message) => this.#receive(link, message));
    link.onDropped((error, count = 1) => {
      this.#counters.messagesDropped += count;
      if (error instanceof QueueOverflowError) this.#counters.messagesOverflowed += count;
    });
    link.onClose(() => this.#removeLink(link));
    this.#flow.add(link);
    if (link.kind === "bridge") {
      // A bridge forwards local traffic to other machines from the start, and follows the local
      // servers' namespaces to know whom to subscribe for: tell it those already up.
      this.#serverLinks.push(link);
      this.#emitterLinks.push(link);
      for (const member of this.#members.values()) {
        for (const n of member.namespaces) {
          this.#deliver(link, envelope<Namespace>({ k: Kind.NAMESPACE, uid: member.uid, n, up: true }), 0);
        }
      }
    }
    debug("relay for %s", link.name);
  }

  /**
   * Removes one member of a link that carries several (a bridge), as if its own link had closed:
   * every other link hears that it LEFT. Does nothing if `uid` is not a member of `link`.
   */
  removeMember(link: Link, uid: string): void {
    const member = this.#members.get(uid);
    if (!member || member.link !== link) return;
    this.#members.delete(uid);
    this.#links.get(link)?.delete(member);
    debug("%s %s left %s", member.role, uid, link.name);
    const left = envelope<Left>({ k: Kind.LEFT, uid });
    for (const other of this.#links.keys()) if (other !== link) this.#deliver(other, left, 0);
  }

  stats(): HubStats {
    let workers = 0;
    let helpers = 0;
    let messagesQueued = 0;
    for (const [link, members] of this.#links) {
      messagesQueued += link.queued;
      if (link.kind === "helper") helpers++;
      else if (link.kind === "worker" && [...members].some((m) => m.role === "server")) workers++;
    }
    return { workers, helpers, messagesQueued, ...this.#counters, ...this.#recovery.stats() };
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  /** Stops relaying and releases every link's listeners. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#recovery.close();
    this.#flow.close();
    // Closing a link only stops listening to it: tell each emitter that it is out, so that a
    // helper's emitter fails with a clear error instead of sending into the void.
    for (const member of this.#members.values()) {
      if (member.role === "emitter") this.#deliver(member.link, envelope<Left>({ k: Kind.LEFT, uid: member.uid }), 0);
    }
    for (const link of [...this.#links.keys()]) link.close();
    for (const listener of this.#closeListeners) listener();
    this.#closeListeners = [];
    debug("closed");
  }

  #receive(link: Link, message: unknown): void {
    if (!isOwnMessage(message)) {
      this.#counters.messagesIgnored++;
      return debug("ignore a message that is not ours from %s", link.name);
    }
    const version = message[MESSAGE_SOURCE];
    if (version !== PROTOCOL_VERSION) {
      this.#counters.messagesRejected++;
      return reportVersionSkew(version, link.name, debug);
    }
    const problem = checkEnvelope(message as Record<string, unknown>);
    if (problem !== null) {
      this.#counters.messagesRejected++;
      return debug("drop a malformed message from %s: %s", link.name, problem);
    }
    const env = message as unknown as Envelope;
    if (env.k !== Kind.HELLO && env.k !== Kind.BATCH && link.kind !== "bridge" && this.#links.get(link)?.size === 0) {
      return this.#reject(link, `kind ${env.k} before HELLO`);
    }
    // The limit protects the other members: what arrived here is not copied to them.
    if ((env.k === Kind.PUBLISH || env.k === Kind.RESPONSE || env.k === Kind.SESSION) && this.#tooLarge(link, env.d))
      return;
    switch (env.k) {
      case Kind.HELLO:
        return this.#hello(link, env.uid, env.role);
      case Kind.BATCH:
        if (this.#forwardBatch(link, env)) return;
        // Each envelope of the batch as if it had come alone, in order.
        for (const item of unbatch(env)) this.#receive(link, item);
        return;
      case Kind.PUBLISH:
        if (env.o !== undefined) {
          this.#recovery.append(env.o, env.n as string, env.d);
          if (env.l === 1) return;
        }
        return this.#publish(link, env, env.d.length);
      case Kind.RESPONSE:
        return this.#respond(link, env, env.to, env.d.length);
      case Kind.NAMESPACE:
        return this.#namespace(link, env);
      case Kind.ROOMS:
        return this.#updateRooms(link, env);
      case Kind.BYE:
        return this.#bye(link, env.uid);
      case Kind.OVERFLOWED:
        this.#counters.messagesOverflowedAtSenders += env.c;
        return debug("%s dropped %d messages: its queue toward the hub was full", link.name, env.c);
      case Kind.SESSION:
        return this.#recovery.save(env.n, env.pid, env.d);
      case Kind.RESTORE: {
        const found = this.#recovery.restore(env.n, env.pid, env.o);
        debug("restore session %s for %s: %s", env.pid, link.name, found ? `${found.log.length} packets` : "not found");
        const answer = envelope({ k: Kind.RESTORED, id: env.id, d: found?.session ?? null, log: found?.log ?? [] });
        return this.#deliver(link, answer, 0);
      }
      default:
        return this.#reject(link, `kind ${env.k}, which only the hub sends`);
    }
  }

  /**
   * A batch of plain broadcasts (bare payloads: no rooms, offset or flag) goes to every other
   * server, as each of them would. A link that takes batches gets it whole (a Unix socket writes
   * the frame it came in); the others get its items. Returns false, for the batch to be taken
   * apart, when an item is anything else or too large, or the link has not said HELLO.
   */
  #forwardBatch(origin: Link, batch: Batch): boolean {
    const items = batch.b;
    if (origin.kind !== "bridge" && this.#links.get(origin)?.size === 0) return false;
    let bytes = 0;
    for (const item of items) {
      if (typeof item !== "string" || sizeAbove(item, this.#maxMessageSize) !== -1) return false;
      bytes += item.length;
    }
    let envelopes: Envelope[] | null = null;
    let count = 0;
    for (const link of this.#serverLinks) {
      if (link === origin) continue;
      count++;
      if (link.acceptsBatches === true) {
        this.#counters.messagesRouted += items.length - 1;
        this.#counters.bytesRouted += bytes;
        this.#deliver(link, batch, 0);
      } else {
        envelopes ??= unbatch(batch) as Envelope[];
        for (const message of envelopes) this.#deliver(link, message, (message as Publish).d.length);
      }
      this.#flow.check(origin, link);
    }
    // Per message: a disabled debug() still gathers its arguments.
    if (debug.enabled) debug("forward a batch of %d messages from %s to %d links", items.length, origin.name, count);
    return true;
  }

  #tooLarge(link: Link, payload: string): boolean {
    const size = sizeAbove(payload, this.#maxMessageSize);
    if (size === -1) return false;
    this.#counters.messagesTooLarge++;
    debug("drop a message of %d bytes from %s: maxMessageSize is %d", size, link.name, this.#maxMessageSize);
    return true;
  }

  #reject(link: Link, why: string): void {
    this.#counters.messagesRejected++;
    debug("drop a message from %s: %s", link.name, why);
  }

  #hello(link: Link, uid: string, role: Role): void {
    const members = this.#links.get(link);
    if (!members) return;
    const existing = this.#members.get(uid);
    if (existing && existing.link !== link) return this.#reject(link, `uid ${uid} is already on ${existing.link.name}`);
    if (!existing) {
      const member: Member = { uid, role, link, namespaces: new Set() };
      this.#members.set(uid, member);
      members.add(member);
      const list = role === "server" ? this.#serverLinks : this.#emitterLinks;
      if (!list.includes(link)) list.push(link);
      debug("%s %s joined on %s", role, uid, link.name);
    }
    const servers: [string, string[]][] = [];
    for (const member of this.#members.values()) {
      if (member.role === "server" && member.uid !== uid) servers.push([member.uid, [...member.namespaces]]);
    }
    this.#deliver(link, envelope({ k: Kind.WELCOME, servers }), 0);
  }

  #publish(origin: Link, message: Publish, bytes: number): void {
    const { r: rooms, j: joined, n: nsp } = message;
    let count = 0;
    for (const link of this.#serverLinks) {
      if (link === origin) continue;
      const present = nsp === undefined ? undefined : this.#rooms.get(link)?.get(nsp);
      if (present !== undefined) {
        if (rooms !== undefined && !rooms.some((room) => present.has(room))) {
          this.#counters.broadcastsFiltered++;
          continue;
        }
        // Until the server says which of them it really has (ROOMS after the join), it may have all.
        if (joined !== undefined) for (const room of joined) present.add(room);
      }
      this.#deliver(link, message, bytes);
      this.#flow.check(origin, link);
      count++;
    }
    if (debug.enabled) debug("forward a message of %d chars from %s to %d links", bytes, origin.name, count);
  }

  #updateRooms(link: Link, message: Rooms): void {
    const members = this.#links.get(link);
    if (!members || ![...members].some((m) => m.role === "server")) {
      return this.#reject(link, "ROOMS from a link with no server");
    }
    let byNamespace = this.#rooms.get(link);
    if (!byNamespace) {
      byNamespace = new Map();
      this.#rooms.set(link, byNamespace);
    }
    let present = byNamespace.get(message.n);
    if (!present) {
      present = new Set();
      byNamespace.set(message.n, present);
    }
    if (message.up) for (const room of message.up) present.add(room);
    if (message.down) for (const room of message.down) present.delete(room);
  }

  #respond(origin: Link, message: Envelope, to: string, bytes: number): void {
    const member = this.#members.get(to);
    if (!member) {
      this.#counters.messagesDropped++;
      return debug("drop a response from %s to %s, which left", origin.name, to);
    }
    this.#deliver(member.link, message, bytes);
    this.#flow.check(origin, member.link);
  }

  #namespace(link: Link, message: Namespace): void {
    const members = this.#links.get(link);
    // A link of several servers (a bridge) names the one whose namespace it is.
    const named = message.uid === undefined ? undefined : this.#members.get(message.uid);
    const server =
      named?.link === link && named.role === "server"
        ? named
        : members && [...members].find((m) => m.role === "server");
    if (!server) return this.#reject(link, "NAMESPACE from a link with no server");
    if (message.r !== undefined) this.#recovery.setRetention(message.n, message.r);
    if (message.up) server.namespaces.add(message.n);
    else {
      server.namespaces.delete(message.n);
      this.#rooms.get(link)?.delete(message.n);
    }
    const relayed = envelope<Namespace>({ k: Kind.NAMESPACE, uid: server.uid, n: message.n, up: message.up });
    for (const emitterLink of this.#emitterLinks) this.#deliver(emitterLink, relayed, 0);
  }

  #deliver(link: Link, message: Envelope, bytes: number): void {
    this.#counters.messagesRouted++;
    this.#counters.bytesRouted += bytes;
    link.send(message);
  }

  #bye(link: Link, uid: string): void {
    const member = this.#members.get(uid);
    if (member?.link !== link) return this.#reject(link, `BYE for ${uid}, which is not on this link`);
    const members = this.#links.get(link) as Set<Member>;
    members.delete(member);
    this.#members.delete(uid);
    // The link stays (the process may start a server again); it is no destination without a server.
    if (![...members].some((m) => m.role === "server")) {
      this.#serverLinks = this.#serverLinks.filter((l) => l !== link);
      this.#rooms.delete(link);
    }
    if (![...members].some((m) => m.role === "emitter"))
      this.#emitterLinks = this.#emitterLinks.filter((l) => l !== link);
    this.#announceLeft(member, link);
  }

  #removeLink(link: Link): void {
    const members = this.#links.get(link);
    if (!members) return;
    this.#links.delete(link);
    this.#rooms.delete(link);
    this.#flow.remove(link);
    this.#serverLinks = this.#serverLinks.filter((l) => l !== link);
    this.#emitterLinks = this.#emitterLinks.filter((l) => l !== link);
    if (this.#closed) return;
    for (const member of members) {
      this.#members.delete(member.uid);
      this.#announceLeft(member, link);
    }
  }

  #announceLeft(member: Member, link: Link): void {
    debug("%s %s left with %s", member.role, member.uid, link.name);
    const left = envelope<Left>({ k: Kind.LEFT, uid: member.uid });
    for (const other of this.#links.keys()) if (other !== link) this.#deliver(other, left, 0);
  }
}
