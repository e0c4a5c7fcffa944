/**
 * The member side of the protocol, shared by a worker's servers and by emitters: one uid, one link
 * to the hub, the HELLO handshake, and the checks every incoming envelope goes through.
 */
import { randomBytes } from "node:crypto";
import type { ClusterMessage, ClusterResponse } from "socket.io-adapter";
import { QueueOverflowError } from "./errors";
import { decode } from "./protocol/codec";
import {
  checkClusterMessage,
  checkEnvelope,
  type Envelope,
  envelope,
  isOwnMessage,
  Kind,
  MESSAGE_SOURCE,
  PROTOCOL_VERSION,
  type Role,
  reportVersionSkew,
  unbatch,
} from "./protocol/messages";
import type { Link } from "./transports/link";

export function randomId(): string {
  return randomBytes(8).toString("hex");
}

/** Random per process: ids of two processes never meet. */
const REQUEST_PREFIX = randomId();
let requests = 0;

/**
 * An id for a request of this process (fetchSockets, serverSideEmit with an ack, a broadcast with
 * acks): answers come back to the uid that asked and are matched by this id, so it only has to be
 * unique in this process. A counter after a per-process random prefix: no random bytes per request
 * (they were a tenth of a requester's CPU per round trip).
 */
export function nextRequestId(): string {
  requests++;
  return REQUEST_PREFIX + requests.toString(36);
}

type Log = (format: string, ...args: unknown[]) => void;

/** A member reports what it dropped toward the hub (OVERFLOWED) at most this often (ms). */
const OVERFLOW_REPORT_INTERVAL = 1_000;

export abstract class Peer {
  readonly uid: string;
  readonly role: Role;
  protected readonly log: Log;
  #link: Link | null;
  #welcomed = false;
  #overflowed = 0;
  /** Of #overflowed, what the hub has not been told yet; the timer that will tell it. */
  #unreported = 0;
  #reportTimer: NodeJS.Timeout | null = null;

  /** `link` may be null for a peer whose link comes later (see attach()). */
  constructor(role: Role, uid: string, link: Link | null, log: Log) {
    this.role = role;
    this.uid = uid;
    this.log = log;
    this.#link = null;
    if (link) this.attach(link);
  }

  /** Makes `link` the way to the hub and says HELLO on it (again, after a reconnection). */
  protected attach(link: Link): void {
    this.#link = link;
    this.#welcomed = false;
    link.onMessage((message) => {
      if (this.#link === link) this.#receive(message);
    });
    link.onDropped((error, count) => {
      if (!(error instanceof QueueOverflowError)) return;
      this.#overflowed += count;
      this.#unreported += count;
      // unref: a report due never keeps the process alive.
      this.#reportTimer ??= setTimeout(() => this.#reportOverflow(), OVERFLOW_REPORT_INTERVAL).unref();
    });
    link.onClose(() => {
      // A link replaced since is no news. closeLink() sets #link to null first: it does report.
      if (this.#link !== null && this.#link !== link) return;
      this.log("[%s] link to the hub closed", this.uid);
      this.#link = null;
      this.onHubGone();
    });
    this.send(envelope({ k: Kind.HELLO, uid: this.uid, role: this.role }));
    // Drops not yet reported when the previous link closed: the new hub hears of them.
    if (this.#unreported > 0) this.#reportOverflow();
  }

  /**
   * Broadcasts and answers this process dropped because its own queue toward the hub was full
   * (MAX_QUEUED_BYTES: it emitted faster than the hub took them, e.g. while the hub's flow control
   * held it back). Counted for the whole process, whatever the namespace.
   */
  get messagesOverflowed(): number {
    return this.#overflowed;
  }

  /** True once the hub has answered HELLO. */
  get welcomed(): boolean {
    return this.#welcomed;
  }

  /** @internal the link to the hub, if open (tests watch what arrives on it). */
  get link(): Link | null {
    return this.#link;
  }

  /** True while the link to the hub is open. */
  get connected(): boolean {
    return this.#link !== null;
  }

  send(message: Envelope): void {
    this.#link?.send(message);
  }

  /** Closes the link to the hub (removes its listeners, so that the process may exit). */
  closeLink(): void {
    this.#reportOverflow();
    const link = this.#link;
    this.#link = null;
    link?.close();
  }

  /**
   * Tells the hub what this process dropped toward it since the last report (OVERFLOWED, a control
   * envelope: it is queued even when the queue is full, and arrives behind what waited before it).
   */
  #reportOverflow(): void {
    if (this.#reportTimer !== null) clearTimeout(this.#reportTimer);
    this.#reportTimer = null;
    if (this.#unreported === 0 || this.#link === null) return;
    this.send(envelope({ k: Kind.OVERFLOWED, c: this.#unreported }));
    this.#unreported = 0;
  }

  protected abstract onWelcome(servers: [string, string[]][]): void;
  protected abstract onClusterMessage(message: ClusterMessage): void;
  protected abstract onClusterResponse(response: ClusterResponse): void;
  protected abstract onNamespace(uid: string, nsp: string, up: boolean): void;
  protected abstract onLeft(uid: string): void;
  protected abstract onHubGone(): void;

  /** The hub's answer to a RESTORE (connection state recovery); only servers ask. */
  protected onRestored(_id: string, _session: string | null, _log: string[]): void {}

  #receive(message: unknown): void {
    if (!isOwnMessage(message)) return; // another library's message on the shared channel
    const version = message[MESSAGE_SOURCE];
    if (version !== PROTOCOL_VERSION) return reportVersionSkew(version, "the hub", this.log);
    const env = message as unknown as Envelope;
    const problem = checkEnvelope(env as unknown as Record<string, unknown>);
    if (problem !== null) return this.log("[%s] drop a malformed envelope: %s", this.uid, problem);
    if (env.k === Kind.BATCH) {
      // Each envelope of the batch as if it had come alone, in order.
      for (const item of unbatch(env)) this.#receive(item);
      return;
    }
    // Nothing the hub sends may crash this process: socket.io code runs below.
    try {
      switch (env.k) {
        case Kind.WELCOME:
          this.#welcomed = true;
          return this.onWelcome(env.servers);
        case Kind.PUBLISH: {
          const decoded = this.#decode(env.d, "message");
          if (decoded) this.onClusterMessage(decoded as ClusterMessage);
          return;
        }
        case Kind.RESPONSE: {
          const decoded = this.#decode(env.d, "response");
          if (decoded) this.onClusterResponse(decoded as ClusterResponse);
          return;
        }
        case Kind.NAMESPACE:
          if (env.uid !== undefined) this.onNamespace(env.uid, env.n, env.up);
          return;
        case Kind.LEFT:
          return this.onLeft(env.uid);
        case Kind.RESTORED:
          return this.onRestored(env.id, env.d, env.log);
        default:
          return this.log("[%s] drop an envelope of kind %d, which only the hub receives", this.uid, env.k);
      }
    } catch (error) {
      this.log("[%s] error while handling an envelope of kind %d: %O", this.uid, env.k, error);
    }
  }

  #decode(text: string, expect: "message" | "response"): unknown {
    let decoded: unknown;
    try {
      decoded = decode(text);
    } catch (error) {
      this.log("[%s] drop an undecodable %s: %s", this.uid, expect, (error as Error).message);
      return null;
    }
    const problem = checkClusterMessage(decoded, expect);
    if (problem !== null) {
      this.log("[%s] drop a malformed %s: %s", this.uid, expect, problem);
      return null;
    }
    return decoded;
  }
}
