/**
 * The fuzzer: random and mutated inputs through the codec, the real Hub over in-memory links, and
 * the receive paths of a real WorkerPeer (under a real Socket.IO server with a real client) and a
 * real EmitterPeer. Invariants checked:
 * - nothing throws out of the hub or a peer, and no error goes unhandled;
 * - encode() returns or throws an UnserializableError; what it returns decodes and re-encodes to
 *   the same text; encodeLenient() never throws; decode() throws Errors only;
 * - every envelope the hub sends is ours, of our version, passes checkEnvelope and holds no field
 *   the protocol does not define, and no payload above the hub's limit;
 * - no decoded object has a prototype other than Object's, Array's or a binary type's, and
 *   Object.prototype, Array.prototype and Function.prototype never change.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect, isDeepStrictEqual } from "node:util";
import { Server } from "socket.io";
import { io as connectClient, type Socket } from "socket.io-client";
import { ClusterAdapter } from "../../src/adapter";
import { EmitterPeer } from "../../src/emitter-peer";
import { Emitter, setupPrimary } from "../../src/index";
import { resolveAdapterOptions } from "../../src/options";
import { decode, encode, encodeLenient, UnserializableError } from "../../src/protocol/codec";
import { checkEnvelope, isOwnMessage, Kind, MESSAGE_SOURCE, PROTOCOL_VERSION } from "../../src/protocol/messages";
import type { Link } from "../../src/transports/link";
import { createLocalLinks } from "../../src/transports/local";
import { WorkerPeer } from "../../src/worker";
import { MemoryLink } from "../helpers/memory-link";
import { Pools, randomEnvelope, randomPayload, throughChannel } from "./envelopes";
import {
  deepText,
  hugeArrayText,
  mutateText,
  Rng,
  randomJson,
  randomString,
  randomValue,
  VIEW_TYPES,
} from "./generate";

export interface FuzzOptions {
  seed: number;
  iterations: number;
  /** Called every 1000 iterations. */
  progress?: (done: number) => void;
}

export interface Failure {
  iteration: number;
  target: string;
  problem: string;
  input: string;
}

export interface FuzzResult {
  seed: number;
  iterations: number;
  byTarget: Record<string, number>;
  /** Envelopes the hub sent (all checked). */
  checkedOutputs: number;
  /** Envelopes the hub refused (malformed, other version, before HELLO, too large). */
  hubRejected: number;
  failures: Failure[];
  ms: number;
  /** Milliseconds spent per target, the peers' asynchronous work excluded. */
  timeByTarget: Record<string, number>;
}

/** The fields each kind may carry; anything else makes an envelope malformed. */
const FIELDS: Record<number, string[]> = {
  [Kind.HELLO]: ["uid", "role"],
  [Kind.WELCOME]: ["servers"],
  [Kind.PUBLISH]: ["d", "o", "n", "l", "v", "r", "j"],
  [Kind.RESPONSE]: ["to", "d"],
  [Kind.NAMESPACE]: ["uid", "n", "up", "r"],
  [Kind.LEFT]: ["uid"],
  [Kind.SESSION]: ["n", "pid", "d"],
  [Kind.RESTORE]: ["id", "n", "pid", "o"],
  [Kind.RESTORED]: ["id", "d", "log"],
  [Kind.BYE]: ["uid"],
  [Kind.BATCH]: ["b"],
  [Kind.ROOMS]: ["n", "up", "down"],
};

const HUB_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

const ALLOWED_PROTOTYPES = new Set<unknown>([
  Object.prototype,
  Array.prototype,
  Buffer.prototype,
  ArrayBuffer.prototype,
  DataView.prototype,
  ...VIEW_TYPES.map((View) => View.prototype),
]);

function snapshotPrototypes(): string {
  return [Object.prototype, Array.prototype, Function.prototype]
    .map((proto) =>
      Reflect.ownKeys(proto)
        .map((key) => {
          const descriptor = Object.getOwnPropertyDescriptor(proto, key)!;
          return `${String(key)}:${typeof descriptor.value}:${typeof descriptor.get}:${typeof descriptor.set}`;
        })
        .sort()
        .join(","),
    )
    .join("|");
}

function describe(value: unknown): string {
  try {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return (text ?? String(value)).slice(0, 300);
  } catch {
    return String(value).slice(0, 300);
  }
}

/** Walks a decoded value (up to a budget of nodes) for an object with a foreign prototype. */
function foreignPrototype(value: unknown): string | null {
  const stack: unknown[] = [value];
  let budget = 200_000;
  while (stack.length > 0 && budget-- > 0) {
    const item = stack.pop();
    if (typeof item !== "object" || item === null) continue;
    const proto = Object.getPrototypeOf(item);
    if (!ALLOWED_PROTOTYPES.has(proto)) return `an object with prototype ${describe(proto)}`;
    if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) continue;
    if (Array.isArray(item)) {
      for (const element of item) if (typeof element === "object" && element !== null) stack.push(element);
      continue;
    }
    for (const key in item) {
      const element = (item as Record<string, unknown>)[key];
      if (Object.hasOwn(item, key) && typeof element === "object" && element !== null) stack.push(element);
    }
  }
  return null;
}

/** Why an envelope the hub sent is malformed, or null. */
export function checkOutput(message: unknown): string | null {
  if (!isOwnMessage(message)) return "not one of our envelopes";
  const record = message as Record<string, unknown>;
  if (record[MESSAGE_SOURCE] !== PROTOCOL_VERSION) return `version ${String(record[MESSAGE_SOURCE])}`;
  const problem = checkEnvelope(record);
  if (problem !== null) return problem;
  const allowed = FIELDS[record.k as number];
  for (const key of Object.keys(record)) {
    if (key !== MESSAGE_SOURCE && key !== "k" && !allowed.includes(key))
      return `an unknown field ${JSON.stringify(key)}`;
  }
  if (typeof record.d === "string" && Buffer.byteLength(record.d) > HUB_MAX_MESSAGE_SIZE)
    return "a payload above the limit";
  return null;
}

interface Rig {
  hubLinks: MemoryLink[];
  direct: { workerLink: MemoryLink; emitterLink: MemoryLink; emitterPeer: EmitterPeer };
  ioHub: Server;
  emitter: Emitter;
  outputs: { link: string; message: unknown }[];
  close(): Promise<void>;
}

async function buildRig(pools: Pools): Promise<Rig> {
  const primary = setupPrimary();
  const hub = primary.core;
  const outputs: Rig["outputs"] = [];
  const watch = (link: Link) => {
    const send = link.send.bind(link);
    link.send = (message) => {
      outputs.push({ link: link.name, message });
      send(message);
    };
  };
  const options = resolveAdapterOptions({ requestsTimeout: 50, heartbeatInterval: 1_000, heartbeatTimeout: 3_000 });

  // A Socket.IO server whose WorkerPeer is linked to the hub in memory, with a real client.
  const [hubEnd, memberEnd] = createLocalLinks("fuzz worker");
  watch(hubEnd);
  hub.addLink(hubEnd);
  const hubPeer = new WorkerPeer(memberEnd);
  const httpServer = createServer();
  const ioHub = new Server(httpServer, {
    adapter: function (nsp: any) {
      return new ClusterAdapter(nsp, options, hubPeer);
    } as any,
    connectionStateRecovery: { maxDisconnectionDuration: 1_000 },
  });
  const onConnection = async (socket: any) => {
    // As many apps do: an async handler that uses the socket. A forged "connection" must not reach it.
    await null;
    socket.join(["room", "a"]);
  };
  ioHub.on("connection", onConnection);
  ioHub.of("/fuzz").on("connection", onConnection);
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address() as AddressInfo;
  const client: Socket = connectClient(`http://127.0.0.1:${port}`, {
    transports: ["websocket"],
    reconnectionDelay: 50,
  });
  client.onAny((...args: unknown[]) => {
    const last = args[args.length - 1];
    if (typeof last === "function") last("ack");
  });
  await new Promise((resolve) => client.once("connect", resolve));

  // The primary's Emitter, on the same hub.
  const emitter = new Emitter({ requestsTimeout: 50 });

  // Members the fuzzer speaks for: two servers, an emitter in a helper, a link that never says HELLO.
  const hubLinks: MemoryLink[] = [];
  for (const [uid, role, kind] of [
    ["s1", "server", "worker"],
    ["s2", "server", "worker"],
    ["emitter:fuzz", "emitter", "helper"],
    ["", "", "helper"],
  ] as const) {
    const link = new MemoryLink(uid || "silent", kind);
    watch(link);
    hub.addLink(link);
    if (uid) link.inject({ [MESSAGE_SOURCE]: 1, k: Kind.HELLO, uid, role });
    hubLinks.push(link);
  }

  // Peers driven directly, for envelopes the hub would never forward.
  const workerLink = new MemoryLink("direct worker");
  const directPeer = new WorkerPeer(workerLink);
  const ioDirect = new Server({
    adapter: function (nsp: any) {
      return new ClusterAdapter(nsp, options, directPeer);
    } as any,
  });
  ioDirect.on("connection", onConnection);
  ioDirect.of("/fuzz");
  workerLink.inject({ [MESSAGE_SOURCE]: 1, k: Kind.WELCOME, servers: [] });
  const emitterLink = new MemoryLink("direct emitter", "helper");
  const emitterPeer = new EmitterPeer(emitterLink, null);
  emitterLink.inject({ [MESSAGE_SOURCE]: 1, k: Kind.WELCOME, servers: [["s1", ["/"]]] });
  pools.add(pools.uids, hubPeer.uid);

  return {
    hubLinks,
    direct: { workerLink, emitterLink, emitterPeer },
    ioHub,
    emitter,
    outputs,
    async close() {
      client.disconnect();
      // Never attached to an HTTP server: close its adapters, not the server.
      ioDirect.of("/").adapter.close();
      ioDirect.of("/fuzz").adapter.close();
      await new Promise((resolve) => ioHub.close(resolve));
      directPeer.closeLink();
      emitterPeer.closeLink();
      primary.close();
    },
  };
}

/** Reads the uids and request ids of what real members sent, so that fuzzed answers find them. */
function harvest(pools: Pools, message: unknown): void {
  const record = message as Record<string, unknown>;
  if (record?.k !== Kind.PUBLISH || typeof record.d !== "string") return;
  try {
    const decoded = JSON.parse(record.d) as { uid?: unknown; data?: { requestId?: unknown } };
    pools.add(pools.uids, decoded.uid);
    pools.add(pools.requestIds, decoded.data?.requestId);
  } catch {}
  pools.add(pools.offsets, record.o);
}

export async function fuzz(options: FuzzOptions): Promise<FuzzResult> {
  const started = Date.now();
  const rng = new Rng(options.seed);
  const pools = new Pools();
  const failures: Failure[] = [];
  const byTarget: Record<string, number> = { encode: 0, decode: 0, hub: 0, worker: 0, emitter: 0 };
  const timeByTarget: Record<string, number> = {};
  let t0 = performance.now();
  let iteration = 0;
  let target = "setup";
  let input = "";
  const fail = (problem: string) => {
    if (failures.length < 100) failures.push({ iteration, target, problem, input: input.slice(0, 300) });
  };
  const onUncaught = (error: unknown) => fail(`uncaught: ${(error as Error)?.stack ?? String(error)}`);
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  const prototypes = snapshotPrototypes();
  const rig = await buildRig(pools);
  let checkedOutputs = 0;
  let hubRejected = 0;
  const checkOutputs = () => {
    for (const { link, message } of rig.outputs.splice(0)) {
      checkedOutputs++;
      harvest(pools, message);
      const problem = checkOutput(message);
      if (problem !== null) fail(`the hub sent ${link} a malformed envelope (${problem}): ${describe(message)}`);
    }
  };

  try {
    for (iteration = 0; iteration < options.iterations; iteration++) {
      t0 = performance.now();
      const roll = rng.int(100);
      if (roll < 25) {
        target = "encode";
        const value = randomValue(rng);
        input = inspect(value, {
          depth: 6,
          breakLength: Number.POSITIVE_INFINITY,
          maxArrayLength: 8,
          maxStringLength: 40,
        });
        fuzzEncode(value, fail);
      } else if (roll < 50) {
        target = "decode";
        const text = randomText(rng, pools);
        input = text;
        fuzzDecode(text, fail);
      } else if (roll < 80) {
        target = "hub";
        const link = rng.pick(rig.hubLinks);
        const message = throughChannel(rng, randomEnvelope(rng, pools));
        input = describe(message);
        const before = hubStatsRejected();
        try {
          link.inject(message);
        } catch (error) {
          fail(`the hub threw: ${(error as Error).stack}`);
        }
        hubRejected += hubStatsRejected() - before;
        checkOutputs();
      } else if (roll < 90) {
        target = "worker";
        const message = throughChannel(rng, randomEnvelope(rng, pools));
        input = describe(message);
        try {
          rig.direct.workerLink.inject(message);
        } catch (error) {
          fail(`the WorkerPeer threw: ${(error as Error).stack}`);
        }
        for (const sent of rig.direct.workerLink.take()) {
          const problem = checkOutput(sent);
          if (problem !== null) fail(`the WorkerPeer sent a malformed envelope (${problem}): ${describe(sent)}`);
        }
      } else {
        target = "emitter";
        if (rng.chance(0.1)) {
          // Requests waiting for the fuzzed answers.
          const id = rng.chance(0.5) ? "r1" : pools.pick(rng, pools.requestIds);
          const requests = rig.direct.emitterPeer.requestsOf(rng.chance(0.8) ? "/" : "/fuzz");
          if (rng.chance(0.5)) requests.expect(id, ["s1", "s2"], 50, [], () => {});
          else
            requests.expectAcks(
              id,
              ["s1", "s2"],
              50,
              () => {},
              () => {},
            );
        }
        const message = throughChannel(rng, randomEnvelope(rng, pools));
        input = describe(message);
        try {
          rig.direct.emitterLink.inject(message);
        } catch (error) {
          fail(`the EmitterPeer threw: ${(error as Error).stack}`);
        }
        rig.direct.emitterLink.take();
      }
      byTarget[target]++;
      timeByTarget[target] = (timeByTarget[target] ?? 0) + performance.now() - t0;

      if (iteration % 200 === 199) {
        // Requests from the real members, whose ids the fuzzer then answers.
        target = "requests";
        rig.ioHub
          .timeout(50)
          .fetchSockets()
          .catch(() => {});
        rig.ioHub.serverSideEmit("fuzz", () => {});
        rig.ioHub.timeout(50).emit("fuzz", () => {});
        rig.emitter.fetchSockets().catch(() => {});
        rig.emitter.timeout(50).emit("fuzz", () => {});
        rig.emitter.serverSideEmit("fuzz", () => {});
      }
      if (iteration % 1_000 === 999) {
        // Links come and go.
        target = "churn";
        const index = rng.int(3);
        const old = rig.hubLinks[index];
        old.close();
        const link = new MemoryLink(`${old.name}+`, old.kind);
        const send = link.send.bind(link);
        link.send = (message) => {
          rig.outputs.push({ link: link.name, message });
          send(message);
        };
        setupPrimary().core.addLink(link);
        const uid = `${old.name.replace(/\+*$/, "")}-${iteration}`;
        link.inject({ [MESSAGE_SOURCE]: 1, k: Kind.HELLO, uid, role: index === 2 ? "emitter" : "server" });
        pools.add(pools.uids, uid);
        rig.hubLinks[index] = link;
        checkOutputs();
      }
      if (iteration % 50 === 49) {
        // Let the real peers, the server and the client handle what they were sent.
        await new Promise((resolve) => setImmediate(resolve));
        checkOutputs();
      }
      if (iteration % 500 === 499 && snapshotPrototypes() !== prototypes) {
        fail("a built-in prototype changed");
        break;
      }
      if (iteration % 1_000 === 999) options.progress?.(iteration + 1);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    checkOutputs();
    target = "end";
    if (snapshotPrototypes() !== prototypes) fail("a built-in prototype changed");
    if (({} as Record<string, unknown>).polluted !== undefined) fail("Object.prototype.polluted is set");
  } finally {
    await rig.close();
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUncaught);
  }
  return {
    seed: options.seed,
    iterations: options.iterations,
    byTarget,
    checkedOutputs,
    hubRejected,
    failures,
    ms: Date.now() - started,
    timeByTarget,
  };
}

function hubStatsRejected(): number {
  const stats = setupPrimary().stats();
  return stats.messagesRejected + stats.messagesTooLarge;
}

function fuzzEncode(value: unknown, fail: (problem: string) => void): void {
  let text: string;
  try {
    text = encode(value, "value");
  } catch (error) {
    if (!(error instanceof UnserializableError)) fail(`encode threw ${(error as Error)?.stack ?? String(error)}`);
    try {
      encodeLenient(value);
    } catch (lenient) {
      fail(`encodeLenient threw ${(lenient as Error)?.stack}`);
    }
    return;
  }
  // As JSON.stringify: undefined, a function or a symbol (at the top) encode to nothing; members never send them.
  if (text === undefined) return;
  if (typeof text !== "string") return fail(`encode returned ${typeof text}`);
  let back: unknown;
  try {
    back = decode(text);
  } catch (error) {
    return fail(`decode of an encoding threw ${(error as Error).message}`);
  }
  const foreign = foreignPrototype(back);
  if (foreign) return fail(`decode gave ${foreign}`);
  let again: string;
  try {
    again = encode(back, "value");
  } catch (error) {
    return fail(`re-encoding a decoded value threw ${(error as Error).message}`);
  }
  if (again === text) return;
  // Not byte-identical (e.g. an escape around keys whose values were dropped): the values must still be.
  let second: unknown;
  try {
    second = decode(again);
  } catch (error) {
    return fail(`decode of a re-encoding threw ${(error as Error).message}`);
  }
  if (!isDeepStrictEqual(second, back)) {
    let at = 0;
    while (at < text.length && text[at] === again[at]) at++;
    fail(
      `a round trip changed the value at char ${at}: ${text.slice(at - 100, at + 200)} became ${again.slice(at - 100, at + 200)}`,
    );
  }
}

function randomText(rng: Rng, pools: Pools): string {
  switch (rng.int(8)) {
    case 0:
      return randomString(rng, 30);
    case 1:
      return deepText(rng.pick([999, 1_000, 1_001, 10_000]), rng.chance(0.5));
    case 2:
      return rng.chance(0.1) ? hugeArrayText(1_000_000) : hugeArrayText(1_000);
    case 3: {
      const payload = randomPayload(rng, pools);
      return typeof payload === "string" ? payload : (JSON.stringify(payload) ?? "null");
    }
    case 4:
      return mutateText(rng, JSON.stringify(randomJson(rng)) ?? "null");
    default:
      return mutateText(rng, encodeLenient(randomValue(rng)) ?? "null");
  }
}

function fuzzDecode(text: string, fail: (problem: string) => void): void {
  let value: unknown;
  try {
    value = decode(text);
  } catch (error) {
    if (!(error instanceof Error)) fail(`decode threw a non-Error: ${String(error)}`);
    return;
  }
  const foreign = foreignPrototype(value);
  if (foreign) fail(`decode gave ${foreign}`);
}
