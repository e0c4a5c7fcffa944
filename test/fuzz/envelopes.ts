/**
 * Random cluster messages and envelopes for the fuzzer: mostly well-formed skeletons with names
 * taken from what the real members use (so that messages reach real code paths), then mutated.
 */
import { MessageType } from "socket.io-adapter";
import { encodeLenient } from "../../src/protocol/codec";
import { Kind, MESSAGE_SOURCE } from "../../src/protocol/messages";
import { deepText, hugeArrayText, mutateText, put, type Rng, randomJson, randomString } from "./generate";

/** Names the fuzzer has seen on the wire: uids, request ids, namespaces, recovery offsets. */
export class Pools {
  uids = new Set<string>(["s1", "s2", "emitter:fuzz", "__proto__", "constructor"]);
  requestIds = new Set<string>(["r1", "__proto__"]);
  namespaces = new Set<string>(["/", "/fuzz", "__proto__", "constructor"]);
  offsets = new Set<string>(["o1"]);
  pids = new Set<string>(["p1"]);

  pick(rng: Rng, set: Set<string>): string {
    if (rng.chance(0.1)) return randomString(rng, 4);
    if (set === this.namespaces && rng.chance(0.5)) return "/";
    const items = [...set];
    return items[rng.int(items.length)];
  }

  /** Keeps each pool small: the newest names are the live ones. */
  add(set: Set<string>, value: unknown): void {
    if (typeof value !== "string") return;
    set.add(value);
    if (set.size > 64) set.delete(set.values().next().value as string);
  }
}

const TYPES = Object.values(MessageType).filter((v): v is number => typeof v === "number");

function maybe(rng: Rng, value: unknown): unknown {
  return rng.chance(0.9) ? value : randomJson(rng);
}

function rooms(rng: Rng): unknown {
  if (rng.chance(0.02)) return Array.from({ length: 10_000 }, (_, i) => `r${i}`);
  const list: string[] = [];
  const n = rng.int(3);
  for (let i = 0; i < n; i++) list.push(rng.pick(["room", "a", "__proto__", randomString(rng, 3)]));
  return maybe(rng, list);
}

function opts(rng: Rng): unknown {
  const flags: Record<string, unknown> = {};
  if (rng.chance(0.3)) flags.volatile = rng.chance(0.9) ? true : randomJson(rng);
  if (rng.chance(0.2)) flags.compress = rng.chance(0.5);
  if (rng.chance(0.2)) flags.local = rng.chance(0.5);
  if (rng.chance(0.2)) flags.timeout = rng.pick([10, 0, -1, 1e12, "x"]);
  if (rng.chance(0.05)) put(flags, "__proto__", { polluted: 1 });
  return maybe(rng, { rooms: rooms(rng), except: rooms(rng), flags: maybe(rng, flags) });
}

function args(rng: Rng): unknown[] {
  const list: unknown[] = [
    rng.pick(["fuzz", "hello", "connection", "connect", "error", "new_namespace", "newListener", "__proto__"]),
  ];
  const n = rng.int(3);
  for (let i = 0; i < n; i++) list.push(randomJson(rng));
  return list;
}

/** A ClusterMessage or ClusterResponse, mostly well formed. */
export function randomClusterMessage(rng: Rng, pools: Pools): Record<string, unknown> {
  const type = rng.chance(0.95) ? rng.pick(TYPES) : rng.pick([0, 14, -1, 3.5, "3"] as unknown[]);
  const requestId = pools.pick(rng, pools.requestIds);
  let data: unknown;
  switch (type) {
    case MessageType.BROADCAST:
      data = {
        packet: maybe(rng, { type: rng.chance(0.9) ? 2 : rng.int(7), data: maybe(rng, args(rng)), nsp: "/" }),
        opts: opts(rng),
        ...(rng.chance(0.3) ? { requestId } : {}),
      };
      break;
    case MessageType.SOCKETS_JOIN:
    case MessageType.SOCKETS_LEAVE:
      data = { opts: opts(rng), rooms: rooms(rng) };
      break;
    case MessageType.DISCONNECT_SOCKETS:
      data = { opts: opts(rng), close: maybe(rng, rng.chance(0.5)) };
      break;
    case MessageType.FETCH_SOCKETS:
      data = { opts: opts(rng), requestId };
      break;
    case MessageType.SERVER_SIDE_EMIT:
      data = { packet: maybe(rng, args(rng)), ...(rng.chance(0.5) ? { requestId } : {}) };
      break;
    case MessageType.FETCH_SOCKETS_RESPONSE:
      data = {
        requestId,
        sockets: maybe(rng, [{ id: randomString(rng, 3), handshake: {}, rooms: ["a"], data: randomJson(rng) }]),
      };
      break;
    case MessageType.SERVER_SIDE_EMIT_RESPONSE:
    case MessageType.BROADCAST_ACK:
      data = { requestId, packet: randomJson(rng) };
      break;
    case MessageType.BROADCAST_CLIENT_COUNT:
      data = { requestId, clientCount: maybe(rng, rng.int(3)) };
      break;
    default:
      data = maybe(rng, undefined);
  }
  const message: Record<string, unknown> = {
    uid: maybe(rng, pools.pick(rng, pools.uids)),
    nsp: maybe(rng, pools.pick(rng, pools.namespaces)),
    type,
    data,
  };
  if (rng.chance(0.05)) put(message, rng.pick(["__proto__", "constructor", "prototype"]), { polluted: 1 });
  return message;
}

/** The `d` of an envelope: an encoded cluster message, mutated or not, or an adversarial text. */
export function randomPayload(rng: Rng, pools: Pools): unknown {
  const roll = rng.int(100);
  if (roll < 70) return encodeLenient(randomClusterMessage(rng, pools));
  if (roll < 88) return mutateText(rng, encodeLenient(randomClusterMessage(rng, pools)));
  if (roll < 91) {
    // A broadcast whose arguments are nested deeper than the codec allows, with or without our marker.
    const text = encodeLenient(randomClusterMessage(rng, pools));
    const deep = deepText(rng.pick([1_001, 5_000, 50_000]), rng.chance(0.5));
    return text.replace('"data":', `"data":${deep},"x":`);
  }
  if (roll < 93)
    return `{"uid":"s1","nsp":"/","type":3,"data":{"packet":{"type":2,"data":["fuzz",${hugeArrayText(rng.pick([1_000, 100_000]))}]},"opts":{"rooms":[],"except":[],"flags":{}}}}`;
  if (roll < 97) return randomString(rng);
  return randomJson(rng);
}

const KINDS = Object.values(Kind);

/** An envelope: a well-formed skeleton of a random kind, then mutated; sometimes not an envelope at all. */
export function randomEnvelope(rng: Rng, pools: Pools): unknown {
  if (rng.chance(0.03)) return randomJson(rng);
  // Mostly the kinds that carry payloads to real code.
  const roll = rng.next();
  const k =
    roll < 0.4
      ? Kind.PUBLISH
      : roll < 0.55
        ? Kind.RESPONSE
        : roll < 0.97
          ? rng.pick(KINDS)
          : rng.pick([0, 10, -1, "3", null] as unknown[]);
  const fields: Record<string, unknown> = {};
  put(fields, MESSAGE_SOURCE, rng.chance(0.95) ? 1 : rng.pick([0, 2, "1", null, {}] as unknown[]));
  put(fields, "k", k);
  switch (k) {
    case Kind.HELLO:
      fields.uid = pools.pick(rng, pools.uids);
      fields.role = rng.pick(["server", "emitter", "other"]);
      break;
    case Kind.WELCOME:
      fields.servers = [[pools.pick(rng, pools.uids), [pools.pick(rng, pools.namespaces)]]];
      break;
    case Kind.PUBLISH:
      fields.d = randomPayload(rng, pools);
      if (rng.chance(0.2)) {
        fields.o = pools.pick(rng, pools.offsets);
        fields.n = pools.pick(rng, pools.namespaces);
        if (rng.chance(0.3)) fields.l = rng.chance(0.8) ? 1 : 2;
      }
      break;
    case Kind.RESPONSE:
      fields.to = pools.pick(rng, pools.uids);
      fields.d = randomPayload(rng, pools);
      break;
    case Kind.NAMESPACE:
      fields.n = pools.pick(rng, pools.namespaces);
      fields.up = rng.chance(0.7);
      if (rng.chance(0.3)) fields.uid = pools.pick(rng, pools.uids);
      if (rng.chance(0.2)) fields.r = rng.pick([1_000, 0, -1, "x"] as unknown[]);
      break;
    case Kind.LEFT:
    case Kind.BYE:
      fields.uid = pools.pick(rng, pools.uids);
      break;
    case Kind.SESSION:
      fields.n = pools.pick(rng, pools.namespaces);
      fields.pid = pools.pick(rng, pools.pids);
      fields.d = rng.chance(0.8)
        ? encodeLenient({ sid: "s", pid: "p", rooms: ["a"], data: randomJson(rng) })
        : randomPayload(rng, pools);
      break;
    case Kind.RESTORE:
      fields.id = randomString(rng, 3);
      fields.n = pools.pick(rng, pools.namespaces);
      fields.pid = pools.pick(rng, pools.pids);
      fields.o = pools.pick(rng, pools.offsets);
      break;
    case Kind.RESTORED:
      fields.id = randomString(rng, 3);
      fields.d = rng.chance(0.5) ? null : randomPayload(rng, pools);
      fields.log = [randomPayload(rng, pools)];
      break;
  }
  // Wrong types, missing fields, extra keys.
  const mutations = rng.chance(0.6) ? 0 : 1 + rng.int(3);
  for (let i = 0; i < mutations; i++) {
    const keys = Object.keys(fields);
    switch (rng.int(3)) {
      case 0:
        put(fields, rng.pick(keys), randomJson(rng));
        break;
      case 1:
        delete fields[rng.pick(keys)];
        break;
      default:
        put(
          fields,
          rng.pick(["__proto__", "constructor", "prototype", "x", "to", "uid", "d", "o"]),
          rng.chance(0.02) ? Array.from({ length: 100_000 }, () => 0) : randomJson(rng),
        );
    }
  }
  return fields;
}

/** What the IPC channel does to a message: JSON text for "json", a structured clone for "advanced". */
export function throughChannel(rng: Rng, message: unknown): unknown {
  try {
    return rng.chance(0.5) ? JSON.parse(JSON.stringify(message) ?? "null") : structuredClone(message);
  } catch {
    return message;
  }
}
