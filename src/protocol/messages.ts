/**
 * Everything that crosses the wire between a member of the cluster (a worker's adapter, an emitter)
 * and the hub. The cluster messages themselves are socket.io-adapter's `ClusterMessage` and
 * `ClusterResponse`: an envelope carries one of them, JSON-encoded by the codec, as a string, so
 * that the hub routes it without parsing or re-encoding it.
 */
import { MessageType } from "socket.io-adapter";

/** The key that marks a message on a shared IPC channel as ours; its value is the protocol version. */
export const MESSAGE_SOURCE = "sio-ipc";

/**
 * Bumped whenever an envelope or a payload changes shape. Peers of another version are ignored with
 * one warning, never misread.
 */
export const PROTOCOL_VERSION = 1;

/** The envelope kinds. Numbers keep each envelope short. */
export const Kind = {
  /** member -> hub: "I am uid, a server or an emitter". */
  HELLO: 1,
  /** hub -> member: answer to HELLO, with the servers already there. */
  WELCOME: 2,
  /** member -> hub -> every other server: a ClusterMessage. */
  PUBLISH: 3,
  /** member -> hub -> the member `to`: a ClusterResponse. */
  RESPONSE: 4,
  /** server -> hub: one of its namespaces opened (`up: true`) or closed; hub -> emitters: the same, with the uid. */
  NAMESPACE: 5,
  /**
   * hub -> every member: the member `uid` left the cluster (its process exited or disconnected).
   * hub -> an emitter, with the emitter's own uid: the hub is closing (hub.close()).
   */
  LEFT: 6,
  /** server -> hub: keep a disconnected client's session for connection state recovery. */
  SESSION: 7,
  /** server -> hub: a client reconnects with a session id and an offset; `id` names the request. */
  RESTORE: 8,
  /** hub -> server: the answer to RESTORE: the session (or null) and the logged packets after the offset. */
  RESTORED: 9,
  /** member -> hub: the member `uid` leaves (its last Socket.IO server closed); the hub tells the others. */
  BYE: 10,
  /**
   * Either way: the envelopes one link sent in one tick, in order, as one IPC message (one write and
   * one parse instead of one per envelope). Unpacked by the hub or the peer that receives it; never nested.
   */
  BATCH: 11,
  /**
   * server -> hub: rooms of namespace `n` that gained their first (`up`) or lost their last (`down`)
   * member in this process. The first ROOMS of a namespace (sent right after NAMESPACE) says that the
   * server reports its rooms: from then on, the hub sends it a broadcast to rooms (a PUBLISH with
   * `r`) only if it has a member of one of them.
   */
  ROOMS: 12,
  /**
   * Either way, on a worker's IPC channel only, never in a BATCH: the move of a worker's traffic to
   * the hub's data socket (transports/data-socket.ts). worker -> hub: a request (no field); hub ->
   * worker: the offer (`p` the socket's path, `t` a one-time token), which the worker sends back as
   * the first frame on the socket; then each side's last IPC envelope before it sends on the
   * socket (`s: 1`). Read by the links, never by the hub or a peer.
   */
  UPGRADE: 13,
  /**
   * member -> hub: `c` broadcasts and answers that this member's process dropped since its last
   * report because its own queue toward the hub was full (it emitted faster than the hub took
   * them); at most one a second. Counted in hub.stats().messagesOverflowedAtSenders. A control
   * envelope: it goes even when the queue is full. (An older hub drops it as of an unknown kind.)
   */
  OVERFLOWED: 14,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** What a member is: a Socket.IO server (a worker's adapter) or an emitter. */
export type Role = "server" | "emitter";

/** Emitter uids start with this prefix, so that servers do not count emitters as servers. */
export const EMITTER_UID_PREFIX = "emitter";

interface Base {
  [MESSAGE_SOURCE]: number;
}

export interface Hello extends Base {
  k: typeof Kind.HELLO;
  uid: string;
  role: Role;
}

export interface Welcome extends Base {
  k: typeof Kind.WELCOME;
  /** Each server already in the cluster, with the namespaces it serves. */
  servers: [uid: string, namespaces: string[]][];
}

export interface Publish extends Base {
  k: typeof Kind.PUBLISH;
  /** The codec's encoding of a ClusterMessage. */
  d: string;
  /** Connection state recovery: the offset of a broadcast the hub logs for replay. */
  o?: string;
  /** With `o`: the namespace of the broadcast. */
  n?: string;
  /** With `o`: log only, forward to nobody (a direct emit to a socket of the sender). */
  l?: 1;
  /** A volatile broadcast: toward a backlogged member it is dropped first (see transports/ipc.ts). */
  v?: 1;
  /**
   * A broadcast (without acks) to these rooms of namespace `n`: the hub sends it only to servers
   * that report a member of one of them, or that do not report their rooms.
   */
  r?: string[];
  /**
   * A SOCKETS_JOIN of namespace `n` that adds these rooms: the hub counts them as present on every
   * server it forwards the join to, until each server reports (ROOMS) which it really has, so that
   * a broadcast sent right after the join is not filtered out.
   */
  j?: string[];
}

export interface Response extends Base {
  k: typeof Kind.RESPONSE;
  /** The uid of the member that made the request. */
  to: string;
  /** The codec's encoding of a ClusterResponse. */
  d: string;
}

export interface Namespace extends Base {
  k: typeof Kind.NAMESPACE;
  /** Set by the hub when it relays the event to emitters, and by a bridge to name which of its members it is about. */
  uid?: string;
  n: string;
  up: boolean;
  /** Connection state recovery is on in this namespace: how long (ms) sessions and packets are kept. */
  r?: number;
}

export interface Session extends Base {
  k: typeof Kind.SESSION;
  n: string;
  pid: string;
  /** The codec's encoding of socket.io's session ({ sid, pid, rooms, data }). */
  d: string;
}

export interface Restore extends Base {
  k: typeof Kind.RESTORE;
  id: string;
  n: string;
  pid: string;
  o: string;
}

export interface Restored extends Base {
  k: typeof Kind.RESTORED;
  id: string;
  /** The session, as SESSION carried it, or null when it is unknown or expired, or the offset is. */
  d: string | null;
  /** The logged broadcasts (PUBLISH payloads) after the offset, oldest first. */
  log: string[];
}

export interface Left extends Base {
  k: typeof Kind.LEFT;
  uid: string;
}

export interface Bye extends Base {
  k: typeof Kind.BYE;
  uid: string;
}

export interface Upgrade extends Base {
  k: typeof Kind.UPGRADE;
  /** The data socket's path (hub -> worker, the offer). */
  p?: string;
  /** The one-time token of the offer; the first frame on the socket carries it back. */
  t?: string;
  /** 1: the sender's envelopes come on the socket from now on. */
  s?: 1;
}

export interface Overflowed extends Base {
  k: typeof Kind.OVERFLOWED;
  /** How many, a positive integer. */
  c: number;
}

export interface Rooms extends Base {
  k: typeof Kind.ROOMS;
  n: string;
  up?: string[];
  down?: string[];
}

/**
 * Envelopes of one tick. An item that is a string is the payload `d` of a PUBLISH with no other
 * field (the common broadcast: 20 bytes less per message); any other item is a whole envelope.
 */
export interface Batch extends Base {
  k: typeof Kind.BATCH;
  b: (string | Exclude<Envelope, Batch>)[];
}

export type Envelope =
  | Hello
  | Welcome
  | Publish
  | Response
  | Namespace
  | Left
  | Session
  | Restore
  | Restored
  | Bye
  | Rooms
  | Upgrade
  | Overflowed
  | Batch;

/** The item that stands for `message` in a BATCH: the bare payload of a plain PUBLISH, else the envelope. */
export function batchItem(message: Exclude<Envelope, Batch>): string | Exclude<Envelope, Batch> {
  return message.k === Kind.PUBLISH &&
    message.o === undefined &&
    message.v === undefined &&
    message.l === undefined &&
    message.n === undefined &&
    message.r === undefined &&
    message.j === undefined
    ? message.d
    : message;
}

/** The envelopes of a well-formed BATCH (see checkEnvelope), in order. */
export function unbatch(batch: Batch): unknown[] {
  const items = batch.b;
  const out = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    out[i] = typeof item === "string" ? { [MESSAGE_SOURCE]: PROTOCOL_VERSION, k: Kind.PUBLISH, d: item } : item;
  }
  return out;
}

/** The ClusterMessage types that a member may publish (the others are responses). */
const PUBLISHABLE = new Set<number>([
  MessageType.INITIAL_HEARTBEAT,
  MessageType.HEARTBEAT,
  MessageType.BROADCAST,
  MessageType.SOCKETS_JOIN,
  MessageType.SOCKETS_LEAVE,
  MessageType.DISCONNECT_SOCKETS,
  MessageType.FETCH_SOCKETS,
  MessageType.SERVER_SIDE_EMIT,
  MessageType.ADAPTER_CLOSE,
]);

const RESPONSES = new Set<number>([
  MessageType.FETCH_SOCKETS_RESPONSE,
  MessageType.SERVER_SIDE_EMIT_RESPONSE,
  MessageType.BROADCAST_CLIENT_COUNT,
  MessageType.BROADCAST_ACK,
]);

/** True for a message that carries our source tag, whatever its version or shape. */
export function isOwnMessage(message: unknown): message is { [MESSAGE_SOURCE]: unknown } {
  return (
    typeof message === "object" && message !== null && !Array.isArray(message) && Object.hasOwn(message, MESSAGE_SOURCE)
  );
}

/** Builds an envelope of our protocol version. */
type WithoutSource<T> = T extends unknown ? Omit<T, typeof MESSAGE_SOURCE> : never;

export function envelope<E extends Envelope>(fields: WithoutSource<E>): E {
  return { [MESSAGE_SOURCE]: PROTOCOL_VERSION, ...fields } as unknown as E;
}

const isString = (value: unknown): value is string => typeof value === "string";

/** The fields of each kind besides the source tag and `k`. */
const FIELDS: Record<Kind, ReadonlySet<string>> = {
  [Kind.HELLO]: new Set(["uid", "role"]),
  [Kind.WELCOME]: new Set(["servers"]),
  [Kind.PUBLISH]: new Set(["d", "o", "n", "l", "v", "r", "j"]),
  [Kind.RESPONSE]: new Set(["to", "d"]),
  [Kind.NAMESPACE]: new Set(["uid", "n", "up", "r"]),
  [Kind.LEFT]: new Set(["uid"]),
  [Kind.SESSION]: new Set(["n", "pid", "d"]),
  [Kind.RESTORE]: new Set(["id", "n", "pid", "o"]),
  [Kind.RESTORED]: new Set(["id", "d", "log"]),
  [Kind.BYE]: new Set(["uid"]),
  [Kind.BATCH]: new Set(["b"]),
  [Kind.ROOMS]: new Set(["n", "up", "down"]),
  [Kind.UPGRADE]: new Set(["p", "t", "s"]),
  [Kind.OVERFLOWED]: new Set(["c"]),
};

/**
 * Checks the shape of an envelope of our version. Returns the reason it is malformed, or null when
 * it is well formed. The payload `d` is checked by its receiver, after decoding.
 *
 * A field the protocol does not define makes an envelope malformed: the hub forwards PUBLISH and
 * RESPONSE as they are, so that an extra field (of any size) would reach every worker. A new field
 * comes with a new PROTOCOL_VERSION.
 */
export function checkEnvelope(message: Record<string, unknown>): string | null {
  const problem = checkFields(message);
  if (problem !== null) return problem;
  const fields = FIELDS[message.k as Kind];
  for (const key in message) {
    if (key !== MESSAGE_SOURCE && key !== "k" && !fields.has(key))
      return `${KIND_NAMES[message.k as Kind]} with an unknown field ${JSON.stringify(key.slice(0, 32))}`;
  }
  return null;
}

const KIND_NAMES = Object.fromEntries(Object.entries(Kind).map(([name, k]) => [k, name])) as Record<Kind, string>;

function checkFields(message: Record<string, unknown>): string | null {
  switch (message.k) {
    case Kind.HELLO:
      if (!isString(message.uid) || message.uid === "") return "HELLO without a uid";
      if (message.role !== "server" && message.role !== "emitter") return "HELLO with an unknown role";
      return null;
    case Kind.WELCOME:
      return Array.isArray(message.servers) &&
        message.servers.every((s) => Array.isArray(s) && isString(s[0]) && Array.isArray(s[1]) && s[1].every(isString))
        ? null
        : "WELCOME without a list of servers";
    case Kind.PUBLISH:
      if (!isString(message.d)) return "PUBLISH without a string payload";
      if (message.v !== undefined && message.v !== 1) return "PUBLISH with a bad volatile flag";
      if (message.r !== undefined || message.j !== undefined) {
        if (!isString(message.n)) return "PUBLISH with rooms but no namespace";
        if (message.r !== undefined && !isStringArray(message.r)) return "PUBLISH with bad rooms";
        if (message.j !== undefined && !isStringArray(message.j)) return "PUBLISH with bad joined rooms";
      }
      if (message.o === undefined) return null;
      if (!isString(message.o) || !isString(message.n)) return "PUBLISH with a bad offset or namespace";
      return message.l === undefined || message.l === 1 ? null : "PUBLISH with a bad log flag";
    case Kind.RESPONSE:
      if (!isString(message.to)) return "RESPONSE without a recipient";
      return isString(message.d) ? null : "RESPONSE without a string payload";
    case Kind.NAMESPACE:
      if (!isString(message.n)) return "NAMESPACE without a name";
      if (message.uid !== undefined && !isString(message.uid)) return "NAMESPACE with a bad uid";
      if (message.r !== undefined && !(typeof message.r === "number" && message.r > 0)) return "NAMESPACE with a bad r";
      return typeof message.up === "boolean" ? null : "NAMESPACE without up";
    case Kind.SESSION:
      return isString(message.n) && isString(message.pid) && isString(message.d) ? null : "SESSION with bad fields";
    case Kind.RESTORE:
      return isString(message.id) && isString(message.n) && isString(message.pid) && isString(message.o)
        ? null
        : "RESTORE with bad fields";
    case Kind.RESTORED:
      if (!isString(message.id) || !(message.d === null || isString(message.d))) return "RESTORED with bad fields";
      return Array.isArray(message.log) && message.log.every(isString) ? null : "RESTORED with a bad log";
    case Kind.LEFT:
      return isString(message.uid) ? null : "LEFT without a uid";
    case Kind.BYE:
      return isString(message.uid) ? null : "BYE without a uid";
    case Kind.ROOMS:
      if (!isString(message.n)) return "ROOMS without a namespace";
      return (message.up === undefined || isStringArray(message.up)) &&
        (message.down === undefined || isStringArray(message.down))
        ? null
        : "ROOMS with bad lists";
    case Kind.UPGRADE:
      return (message.p === undefined || isString(message.p)) &&
        (message.t === undefined || isString(message.t)) &&
        (message.s === undefined || message.s === 1)
        ? null
        : "UPGRADE with bad fields";
    case Kind.OVERFLOWED:
      return Number.isSafeInteger(message.c) && (message.c as number) > 0
        ? null
        : "OVERFLOWED without a positive count";
    case Kind.BATCH:
      // Each item is checked by its receiver, as if it had come alone; a batch in a batch never is.
      return Array.isArray(message.b) &&
        message.b.every((item) => isString(item) || (isRecord(item) && item.k !== Kind.BATCH))
        ? null
        : "BATCH with a bad list of envelopes";
    default:
      return `unknown kind ${show(message.k)}`;
  }
}

/** socket.io's Namespace refuses to serverSideEmit these: no member sends them. */
const NAMESPACE_RESERVED_EVENTS: ReadonlySet<string> = new Set(["connect", "connection", "new_namespace"]);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);

function checkOpts(opts: unknown): boolean {
  return (
    isRecord(opts) &&
    isStringArray(opts.rooms) &&
    isStringArray(opts.except) &&
    (opts.flags === undefined || isRecord(opts.flags))
  );
}

function checkPacket(packet: unknown): boolean {
  return (
    isRecord(packet) && typeof packet.type === "number" && (packet.data === undefined || Array.isArray(packet.data))
  );
}

/**
 * Checks a decoded ClusterMessage or ClusterResponse before it reaches socket.io-adapter, which
 * trusts its input. Returns the reason it is malformed, or null.
 */
export function checkClusterMessage(message: unknown, expect: "message" | "response"): string | null {
  if (!isRecord(message)) return "not an object";
  if (!isString(message.uid) || !isString(message.nsp)) return "without uid or nsp";
  const type = message.type;
  if (typeof type !== "number") return "without a type";
  const known = expect === "message" ? PUBLISHABLE : RESPONSES;
  if (!known.has(type)) return `of unexpected type ${type}`;
  const data = message.data;
  switch (type) {
    case MessageType.INITIAL_HEARTBEAT:
    case MessageType.HEARTBEAT:
    case MessageType.ADAPTER_CLOSE:
      return null;
  }
  if (!isRecord(data)) return "without data";
  const requestId = data.requestId;
  switch (type) {
    case MessageType.BROADCAST:
      if (requestId !== undefined && !isString(requestId)) return "with a bad requestId";
      return checkOpts(data.opts) && checkPacket(data.packet) ? null : "BROADCAST with bad opts or packet";
    case MessageType.SOCKETS_JOIN:
    case MessageType.SOCKETS_LEAVE:
      return checkOpts(data.opts) && isStringArray(data.rooms) ? null : "with bad opts or rooms";
    case MessageType.DISCONNECT_SOCKETS:
      return checkOpts(data.opts) && (data.close === undefined || typeof data.close === "boolean")
        ? null
        : "DISCONNECT_SOCKETS with bad opts";
    case MessageType.FETCH_SOCKETS:
      return checkOpts(data.opts) && isString(requestId) ? null : "FETCH_SOCKETS with bad opts";
    case MessageType.SERVER_SIDE_EMIT:
      if (requestId !== undefined && !isString(requestId)) return "with a bad requestId";
      if (!Array.isArray(data.packet) || !isString(data.packet[0])) return "SERVER_SIDE_EMIT with a bad packet";
      // Forged: a "connection" would run the app's connection handlers with a bogus socket.
      return NAMESPACE_RESERVED_EVENTS.has(data.packet[0]) ? "SERVER_SIDE_EMIT of a reserved event" : null;
  }
  // responses
  if (!isString(requestId)) return "response without a requestId";
  switch (type) {
    case MessageType.FETCH_SOCKETS_RESPONSE:
      return Array.isArray(data.sockets) && data.sockets.every(checkSocketDetails)
        ? null
        : "FETCH_SOCKETS_RESPONSE with bad sockets";
    case MessageType.BROADCAST_CLIENT_COUNT:
      return Number.isInteger(data.clientCount) && (data.clientCount as number) >= 0
        ? null
        : "BROADCAST_CLIENT_COUNT with a bad count";
    default:
      return null;
  }
}

function checkSocketDetails(socket: unknown): boolean {
  return isRecord(socket) && isString(socket.id) && isStringArray(socket.rooms) && isRecord(socket.handshake);
}

const warnedVersions = new Set<unknown>();
/** Distinct warnings at most: a peer that sends random version numbers must not grow this set or flood the warnings. */
const MAX_VERSION_WARNINGS = 16;

/** A value from the channel, for a message. Never String(object): `{ "toString": 1 }` would throw. */
function show(received: unknown): string {
  if (received === null) return "null";
  if (typeof received === "object") return "[object Object]";
  if (typeof received === "string") return received.slice(0, 32);
  return String(received);
}

/**
 * Reports a message of another protocol version: the caller ignores it. One process warning per
 * version, so that a primary and workers of different releases never fail silently.
 */
export function reportVersionSkew(
  received: unknown,
  from: string,
  log: (format: string, ...args: unknown[]) => void,
): void {
  // A tag that is no version at all ("1", {}, null) is a malformed message, not another release:
  // a warning would name "version 1" as foreign, and each object would warn again and be kept.
  if (!Number.isSafeInteger(received) || (received as number) < 1) {
    return log("drop a message with a malformed protocol version %o from %s", received, from);
  }
  log("ignore a message of protocol version %o from %s (ours: %d)", received, from, PROTOCOL_VERSION);
  // Bounded: a peer that sends a new version number with each message must not grow this set.
  if (warnedVersions.has(received) || warnedVersions.size >= MAX_VERSION_WARNINGS) return;
  warnedVersions.add(received);
  process.emitWarning(
    `socket.io-ipc-adapter: ignoring messages of protocol version ${show(received)} from ${from}; this process speaks version ${PROTOCOL_VERSION}. Run the same version of socket.io-ipc-adapter in the primary, the workers and the helpers.`,
    { code: "SIO_IPC_PROTOCOL_MISMATCH" },
  );
}
