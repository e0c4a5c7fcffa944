/**
 * The wire format of `@socket.io/redis-streams-adapter` 0.3 (its `lib/adapter.ts` and `lib/util.ts`),
 * which the bridge speaks so that its machine, other machines and servers on that adapter reach
 * each other. Everything here is pure: names, and conversions between a ClusterMessage and what
 * Redis carries.
 *
 * - A stream (default `socket.io`; `streamCount` > 1 spreads namespaces over `socket.io-<i>`) carries
 *   every message that must not be lost to a slow reader: BROADCAST without ack, SOCKETS_JOIN,
 *   SOCKETS_LEAVE, DISCONNECT_SOCKETS. Entry fields: `uid`, `nsp`, `type` (the MessageType as a
 *   decimal string) and `data`: `JSON.stringify(data)`, or, when the type may carry binary and does,
 *   base64 of msgpack of `data`. A reader tells them apart by the first character (`{` is JSON).
 * - PUB/SUB carries the ephemeral ones (FETCH_SOCKETS, SERVER_SIDE_EMIT, BROADCAST with ack) on the
 *   public channel `<prefix>#<nsp>#`, and each response on the requester's private channel
 *   `<prefix>#<nsp>#<uid>#`, both as msgpack of the whole message.
 */
import { encode as pack, decode as unpack } from "@msgpack/msgpack";
import { type ClusterMessage, type ClusterResponse, MessageType } from "socket.io-adapter";

/** The fields of one stream entry. */
export type StreamFields = Record<string, string>;

/** The types whose data may hold binary: only these are ever msgpack-encoded in the stream. */
const MAY_CONTAIN_BINARY = new Set<number>([
  MessageType.BROADCAST,
  MessageType.FETCH_SOCKETS_RESPONSE,
  MessageType.SERVER_SIDE_EMIT,
  MessageType.SERVER_SIDE_EMIT_RESPONSE,
  MessageType.BROADCAST_ACK,
]);

/** True for a message that travels by PUB/SUB (a request, or anything awaiting answers). */
export function isEphemeral(message: ClusterMessage): boolean {
  if (message.type === MessageType.BROADCAST) return message.data.requestId !== undefined;
  return message.type === MessageType.SERVER_SIDE_EMIT || message.type === MessageType.FETCH_SOCKETS;
}

/** As the adapter's `hasBinary`: a Buffer, an ArrayBuffer or a view anywhere, toJSON() applied once. */
export function hasBinary(value: unknown, jsonApplied = false): boolean {
  if (!value || typeof value !== "object") return false;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return true;
  if (Array.isArray(value)) return value.some((item) => hasBinary(item));
  for (const key in value) {
    if (Object.hasOwn(value, key) && hasBinary((value as Record<string, unknown>)[key])) return true;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  return !jsonApplied && typeof toJSON === "function" && hasBinary(toJSON.call(value), true);
}

/** The adapter's `hashCode` (Java's String.hashCode), which picks a namespace's stream. */
export function hashCode(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i++) {
    hash = hash * 31 + text.charCodeAt(i);
    hash |= 0;
  }
  return hash;
}

/** The stream a namespace's messages go to. */
export function streamOf(nsp: string, streamName: string, streamCount: number): string {
  // The remainder may be negative, which gives names like `socket.io--1`: the adapter does the same.
  return streamCount === 1 ? streamName : `${streamName}-${hashCode(nsp) % streamCount}`;
}

/** Every stream a reader must follow. */
export function streamsOf(streamName: string, streamCount: number): string[] {
  if (streamCount === 1) return [streamName];
  const names = new Set<string>();
  // hashCode % n lies in (-n, n): both signs are possible names.
  for (let i = -(streamCount - 1); i < streamCount; i++) names.add(`${streamName}-${i}`);
  return [...names];
}

/** The channel every server of `nsp` subscribes to: requests travel on it. */
export function publicChannel(prefix: string, nsp: string): string {
  return `${prefix}#${nsp}#`;
}

/** The channel of one server (or emitter) of `nsp`: the responses to its requests travel on it. */
export function privateChannel(prefix: string, nsp: string, uid: string): string {
  return `${prefix}#${nsp}#${uid}#`;
}

/**
 * The channel a bridge subscribes for each of its local servers, besides its private channel: it
 * tells the other bridges that this uid is a server of socket.io-ipc-adapter, not of the streams
 * adapter (see src/bridge/official.ts). Namespaces start with "/", so no namespace channel looks
 * like it, and nobody publishes on it.
 */
export function markerChannel(prefix: string, uid: string): string {
  return `${prefix}#bridge#${uid}#`;
}

/** The uid of a marker channel, or null for another channel. */
export function parseMarker(prefix: string, channel: string): string | null {
  const head = `${prefix}#bridge#`;
  if (!channel.startsWith(head) || !channel.endsWith("#") || channel.length === head.length + 1) return null;
  const uid = channel.slice(head.length, -1);
  return uid.includes("#") ? null : uid;
}

/** A PUBSUB CHANNELS listing: the namespaces of each uid with a private channel, and the marked uids. */
export function readListing(
  prefix: string,
  channels: string[],
): { servers: Map<string, Set<string>>; markers: Set<string> } {
  const servers = new Map<string, Set<string>>();
  const markers = new Set<string>();
  for (const channel of channels) {
    const marker = parseMarker(prefix, channel);
    if (marker !== null) markers.add(marker);
    const found = parseChannel(prefix, channel);
    if (!found?.uid) continue;
    const namespaces = servers.get(found.uid) ?? new Set<string>();
    namespaces.add(found.nsp);
    servers.set(found.uid, namespaces);
  }
  return { servers, markers };
}

/** A glob that matches exactly `text` in PUBSUB CHANNELS and PSUBSCRIBE. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/**
 * Reads a channel name: `{ nsp, uid }` for a private channel, `{ nsp, uid: null }` for a public one,
 * null for another prefix. A uid never holds `#`, so the last `#` before the end separates it.
 */
export function parseChannel(prefix: string, channel: string): { nsp: string; uid: string | null } | null {
  const head = `${prefix}#`;
  if (!channel.startsWith(head) || !channel.endsWith("#")) return null;
  const rest = channel.slice(head.length, -1);
  if (!rest.startsWith("/")) return null;
  const cut = rest.lastIndexOf("#");
  if (cut === -1) return { nsp: rest, uid: null };
  const uid = rest.slice(cut + 1);
  return uid === "" ? null : { nsp: rest.slice(0, cut), uid };
}

/** A message as one stream entry, exactly as the adapter's `encode()` writes it. */
export function toStreamFields(message: ClusterMessage): StreamFields {
  const fields: StreamFields = { uid: message.uid, nsp: message.nsp, type: message.type.toString() };
  const data = (message as { data?: unknown }).data;
  if (data) {
    fields.data =
      MAY_CONTAIN_BINARY.has(message.type) && hasBinary(data)
        ? Buffer.from(pack(data)).toString("base64")
        : JSON.stringify(data);
  }
  return fields;
}

/**
 * A stream entry as a message, as the adapter's `decode()` reads it. Throws on malformed input;
 * binary arrives as Uint8Array, as it does on the adapter's servers.
 */
export function fromStreamFields(fields: StreamFields): ClusterMessage {
  const type = Number.parseInt(fields.type, 10);
  if (typeof fields.uid !== "string" || typeof fields.nsp !== "string" || Number.isNaN(type)) {
    throw new Error("a stream entry without uid, nsp or type");
  }
  const message: Record<string, unknown> = { uid: fields.uid, nsp: fields.nsp, type };
  const data = fields.data;
  if (data) message.data = data.startsWith("{") ? JSON.parse(data) : unpack(Buffer.from(data, "base64"));
  return message as unknown as ClusterMessage;
}

/** A message or a response as a PUB/SUB payload. */
export function toPubSubPayload(message: ClusterMessage | ClusterResponse): Buffer {
  const bytes = pack(message);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A PUB/SUB payload as a message or a response; throws on malformed input. */
export function fromPubSubPayload(payload: Buffer): Record<string, unknown> {
  const message = unpack(payload);
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    throw new Error("a PUB/SUB payload that is not a map");
  }
  const { uid, nsp, type } = message as Record<string, unknown>;
  if (typeof uid !== "string" || typeof nsp !== "string" || typeof type !== "number") {
    throw new Error("a PUB/SUB payload without uid, nsp or type");
  }
  return message as Record<string, unknown>;
}

/**
 * Reads an XREAD reply into `[stream, id, fields]` triples, in order. node-redis gives RESP2
 * arrays (`[[stream, [[id, [f, v, …]], …]], …]`) or, with RESP3, an object or a Map keyed by stream;
 * ioredis 6 a flat array (`[stream, [[id, [f, v, …]], …], …]`).
 */
export function readXReadReply(reply: unknown): [stream: string, id: string, fields: StreamFields][] {
  if (reply === null || reply === undefined) return [];
  let streams: [unknown, unknown][];
  if (Array.isArray(reply) && reply.length > 0 && !Array.isArray(reply[0])) {
    // ioredis 6 flattens the reply: [stream, entries, stream, entries, …].
    streams = [];
    for (let i = 0; i + 1 < reply.length; i += 2) streams.push([reply[i], reply[i + 1]]);
  } else if (Array.isArray(reply)) streams = reply as [unknown, unknown][];
  else if (reply instanceof Map) streams = [...reply.entries()];
  else if (typeof reply === "object") streams = Object.entries(reply);
  else throw new Error(`an XREAD reply of type ${typeof reply}`);
  const entries: [string, string, StreamFields][] = [];
  for (const [stream, items] of streams) {
    if (!Array.isArray(items)) throw new Error("an XREAD reply without entries");
    for (const item of items) {
      const [id, raw] = item as [unknown, unknown];
      entries.push([String(stream), String(id), readFields(raw)]);
    }
  }
  return entries;
}

function readFields(raw: unknown): StreamFields {
  const fields: StreamFields = {};
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) fields[String(raw[i])] = String(raw[i + 1]);
  } else if (raw instanceof Map) {
    for (const [key, value] of raw) fields[String(key)] = String(value);
  } else if (raw && typeof raw === "object") {
    for (const [key, value] of Object.entries(raw)) fields[key] = String(value);
  }
  return fields;
}
