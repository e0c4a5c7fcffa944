/**
 * Issue 2 points 7 and 8: nothing that arrives on an IPC channel crashes a process or gets
 * forwarded unless it is a well-formed envelope of our protocol version; values that cannot cross
 * give the caller a clear error; fetchSockets() survives any socket.data.
 *
 * Absence is shown without sleeping: bad messages go first, then a good broadcast once the hub has
 * handled them (the answer to the eval that sent them comes after them on the same channel). Once
 * the good one has arrived, a forwarded bad one would have too.
 */
import type { Serializable } from "node:child_process";
import { MessageType } from "socket.io-adapter";
import type { Socket } from "socket.io-client";
import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { installProbe, watchProcessErrors, watchWarnings } from "../helpers/probes";
import { once } from "../helpers/wait";

// Cluster tests start real processes on a small, shared machine: more than tap's default per file.
t.setTimeout(240_000);

const MISMATCH = "SIO_IPC_PROTOCOL_MISMATCH";
const ours = (fields: object, version: unknown = 1) => ({ "sio-ipc": version, ...fields });
const payload = (fields: object) => JSON.stringify(fields);
const OPTS = { rooms: [], except: [], flags: {} };
const broadcastOf = (event: string, uid = "ghost") =>
  payload({ uid, nsp: "/", type: MessageType.BROADCAST, data: { opts: OPTS, packet: { type: 2, data: [event] } } });
/** A BROADCAST payload whose one argument is raw JSON, for the codec's reserved keys. */
const rawBroadcast = (event: string, arg: string, uid = "ghost") =>
  `{"uid":"${uid}","nsp":"/","type":3,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"packet":{"type":2,"data":["${event}",${arg}]}}}`;

/** Messages of other libraries and plain garbage: the hub and the workers leave them alone. */
const FOREIGN: unknown[] = [
  "a string",
  "",
  42,
  0,
  true,
  null,
  [1, 2],
  [ours({ k: 3, d: broadcastOf("in-an-array") })],
  {},
  { foo: 1 },
  { type: "sticky:connection", data: "Xyz123" }, // what @socket.io/sticky's workers send
  { source: "_sio_adapter", type: MessageType.BROADCAST, data: { opts: OPTS, packet: { type: 2, data: ["cluster"] } } },
  { "sio-ipc-v2": 1, k: 3, d: broadcastOf("other-tag") },
  { SIO_IPC: 1, k: 3, d: broadcastOf("other-tag") },
];

/** Our tag with missing or wrong fields, or a kind a worker may not send: the hub rejects them. */
const MALFORMED: unknown[] = [
  ours({}),
  ours({ k: 99 }),
  ours({ k: "3", d: broadcastOf("kind-as-string") }),
  ours({ k: 3 }),
  ours({ k: 3, d: { uid: "x" } }),
  ours({ k: 4, d: "{}" }),
  ours({ k: 4, to: 7, d: "{}" }),
  ours({ k: 1 }),
  ours({ k: 1, uid: "", role: "server" }),
  ours({ k: 1, uid: "intruder", role: "king" }),
  ours({ k: 5, up: true }),
  ours({ k: 5, n: "/", up: "yes" }),
  ours({ k: 2, servers: [] }),
  ours({ k: 6, uid: "someone" }),
  // A protocol version that is not a version at all: malformed, not skew.
  ours({ k: 3, d: broadcastOf("string-version") }, "1"),
  ours({ k: 3, d: broadcastOf("object-version") }, {}),
  ours({ k: 3, d: broadcastOf("object-version") }, {}),
  ours({ k: 3, d: broadcastOf("null-version") }, null),
];

/** Sent by the primary straight to a worker, bypassing the hub: each must be dropped there. */
const BAD_FOR_WORKER: unknown[] = [
  ...FOREIGN,
  ...MALFORMED.slice(0, 12),
  ours({ k: 2, servers: "all" }),
  ours({ k: 5, n: "/", up: true, uid: 5 }),
  ours({ k: 6 }),
  ours({ k: 6, uid: "nobody" }),
  ours({ k: 1, uid: "x", role: "server" }),
  ours({ k: 3, d: "" }),
  ours({ k: 3, d: "{not json" }),
  ours({ k: 3, d: "null" }),
  ours({ k: 3, d: "[]" }),
  ours({ k: 3, d: "42" }),
  ours({ k: 3, d: payload({ nsp: "/", type: MessageType.BROADCAST, data: {} }) }),
  ours({ k: 3, d: payload({ uid: "ghost", nsp: "/", type: 99 }) }),
  ours({ k: 3, d: payload({ uid: "ghost", nsp: "/", type: MessageType.BROADCAST, data: { packet: "x", opts: {} } }) }),
  ours({
    k: 3,
    d: payload({
      uid: "ghost",
      nsp: "/",
      type: MessageType.BROADCAST,
      data: { opts: { rooms: "r", except: [] }, packet: { type: 2, data: ["x"] } },
    }),
  }),
  ours({ k: 3, d: payload({ uid: "ghost", nsp: "/", type: MessageType.FETCH_SOCKETS, data: { opts: OPTS } }) }),
  ours({ k: 3, d: payload({ uid: "ghost", nsp: "/", type: MessageType.SERVER_SIDE_EMIT, data: { packet: [] } }) }),
  ours({
    k: 3,
    d: payload({
      uid: "ghost",
      nsp: "/",
      type: MessageType.FETCH_SOCKETS_RESPONSE,
      data: { requestId: "r", sockets: [] },
    }),
  }),
  ours({
    k: 4,
    to: "x",
    d: payload({
      uid: "ghost",
      nsp: "/",
      type: MessageType.FETCH_SOCKETS_RESPONSE,
      data: { requestId: "r", sockets: [{ id: 1 }] },
    }),
  }),
  ours({
    k: 4,
    to: "x",
    d: payload({
      uid: "ghost",
      nsp: "/",
      type: MessageType.BROADCAST_CLIENT_COUNT,
      data: { requestId: "r", clientCount: -1 },
    }),
  }),
  ours({ k: 4, to: "x", d: broadcastOf("message-as-response") }),
  ours({ k: 3, d: rawBroadcast("bad-binary", '{"$sioipc:bin":"Evil","b64":"AA=="}') }),
  ours({ k: 3, d: rawBroadcast("bad-binary", '{"$sioipc:bin":"Uint32Array","b64":"AAA="}') }),
  ours({ k: 3, d: rawBroadcast("bad-binary", '{"$sioipc:bin":"Buffer"}') }),
  ours({ k: 3, d: rawBroadcast("bad-escape", '{"$sioipc:esc":5}') }),
  ours({
    k: 3,
    d: rawBroadcast("too-deep", `${"[".repeat(1_500)}{"$sioipc:bin":"Buffer","b64":""}${"]".repeat(1_500)}`),
  }),
];

/** Records the names of the events each client receives. */
function record(clients: Socket[]): string[][] {
  const events = clients.map(() => [] as string[]);
  for (const [i, socket] of clients.entries()) socket.onAny((event: string) => events[i].push(event));
  return events;
}

for (const serialization of SERIALIZATIONS) {
  t.test(`bad input crashes nothing and crosses nothing (${serialization})`, { timeout: 120_000 }, async (t) => {
    const { errors } = watchProcessErrors(t);
    const warnings = watchWarnings(t, MISMATCH);
    // No periodic heartbeat: every message routed during a check is one of the check's.
    const c = await startCluster(t, {
      workers: 3,
      serialization,
      fixture: { adapter: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 } },
    });
    const clients = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    const events = record(clients);
    for (const w of c.workers) await installProbe(w);
    const uids: string[] = await Promise.all(c.workers.map((w) => w.eval(`return io.of("/").adapter.uid`)));
    const reset = () => {
      for (const list of events) list.length = 0;
      return Promise.all(c.workers.map((w) => w.eval("ctx.probe.foreign = []; ctx.probe.envelopes = []; return true")));
    };
    /** Worker 0 sends `messages`, then broadcasts `sentinel`; resolves when clients of 1 and 2 have it. */
    const fromWorker0 = async (messages: unknown[], sentinel: string) => {
      const arrived = Promise.all([once(clients[1], sentinel, 10_000), once(clients[2], sentinel, 10_000)]);
      // The eval's answer follows the messages on worker 0's IPC channel: once it is here, the hub
      // has handled them all. The sentinel may then take the data socket.
      await c.workers[0].eval(`for (const m of ${JSON.stringify(messages)}) process.send(m); return true`);
      await c.workers[0].eval(`io.emit("${sentinel}"); return true`);
      await arrived;
    };
    const forwarded = async () =>
      (await Promise.all([1, 2].map((i) => c.workers[i].eval("return ctx.probe")))).map((probe) => ({
        foreign: probe.foreign,
        events: probe.envelopes.map((e: { k: number; d?: string }) =>
          e.k === 3 ? JSON.parse(e.d!).data.packet.data[0] : e.k,
        ),
      }));

    await t.test("messages that are not ours are ignored and never forwarded", async (t) => {
      await reset();
      const before = c.hub!.stats();
      await fromWorker0(FOREIGN, "sentinel-foreign");
      const after = c.hub!.stats();
      // +2: the replies to the test's own eval commands, which are not ours either.
      t.equal(after.messagesIgnored - before.messagesIgnored, FOREIGN.length + 2, "each counted as ignored");
      t.equal(after.messagesRejected - before.messagesRejected, 0, "none rejected");
      t.equal(after.messagesRouted - before.messagesRouted, 2, "only the sentinel was routed, to 2 workers");
      t.same(await forwarded(), [
        { foreign: [], events: ["sentinel-foreign"] },
        { foreign: [], events: ["sentinel-foreign"] },
      ]);
      t.same(
        events,
        [["sentinel-foreign"], ["sentinel-foreign"], ["sentinel-foreign"]],
        "clients see the sentinel only",
      );
    });

    await t.test("our messages with missing or wrong fields are rejected and never forwarded", async (t) => {
      await reset();
      const hijack = ours({ k: 1, uid: uids[1], role: "server" }); // another worker's uid
      const orphan = ours({ k: 4, to: "nobody", d: "{}" }); // a response to a member that is not there
      const before = c.hub!.stats();
      await fromWorker0([...MALFORMED, hijack, orphan], "sentinel-malformed");
      const after = c.hub!.stats();
      t.equal(after.messagesRejected - before.messagesRejected, MALFORMED.length + 1, "each counted as rejected");
      t.equal(after.messagesDropped - before.messagesDropped, 1, "the orphan response counted as dropped");
      t.equal(after.messagesRouted - before.messagesRouted, 2, "only the sentinel was routed");
      t.same(await forwarded(), [
        { foreign: [], events: ["sentinel-malformed"] },
        { foreign: [], events: ["sentinel-malformed"] },
      ]);
      t.same(warnings, [], "a malformed version is not reported as another version");
      t.same(await c.serverCounts(), [3, 3, 3], "the hijacked uid still belongs to worker 1");
    });

    await t.test("a worker of another protocol version is ignored with one warning", async (t) => {
      await reset();
      // Warnings are once per version per process, and both subtests share the primary process.
      const version = serialization === "json" ? 2 : 3;
      const skewed = [1, 2, 3].map(() => ours({ k: 3, d: broadcastOf("skewed") }, version));
      const before = c.hub!.stats();
      await fromWorker0([...skewed, ours({ k: 1, uid: "future", role: "server" }, version)], "sentinel-skew");
      const after = c.hub!.stats();
      t.equal(after.messagesRejected - before.messagesRejected, 4, "each counted as rejected");
      t.equal(after.messagesRouted - before.messagesRouted, 2, "only the sentinel was routed");
      t.same(events[1], ["sentinel-skew"], "nothing of it reached a client");
      t.equal(warnings.length, 1, "one process warning");
      t.match(warnings[0]?.message, new RegExp(`protocol version ${version}\\b.*version 1\\b`), "naming both versions");
    });

    await t.test("a worker drops what is malformed or of another version, and keeps working", async (t) => {
      await reset();
      const w = c.workers[1];
      const valid = [
        // Well-formed: the worker's codec keeps a __proto__ key as data, never as a prototype.
        ours({
          k: 3,
          d: rawBroadcast(
            "proto",
            '{"__proto__":{"polluted":1},"b":{"$sioipc:bin":"Buffer","b64":"AQI="}}',
            "emitter-test",
          ),
        }),
        ours({
          k: 4,
          to: uids[1],
          d: payload({
            uid: uids[2],
            nsp: "/",
            type: MessageType.SERVER_SIDE_EMIT_RESPONSE,
            data: { requestId: "none" },
          }),
        }),
      ];
      const skewed = [
        ours({ k: 3, d: broadcastOf("skewed", "emitter-test") }, 2),
        ours({ k: 3, d: broadcastOf("skewed", "emitter-test") }, 2),
        ours({ k: 6, uid: uids[2] }, 2), // if misread, worker 2 would leave worker 1's view
      ];
      const proto = once(clients[1], "proto", 10_000);
      const sentinel = once(clients[1], "sentinel-direct", 10_000);
      for (const message of [...BAD_FOR_WORKER, ...valid, ...skewed]) w.worker.send(message as Serializable);
      w.worker.send(ours({ k: 3, d: broadcastOf("sentinel-direct", "emitter-test") }));
      await sentinel;
      const [arg] = await proto;
      t.ok(Buffer.isBuffer(arg.b), "a well-formed message among them arrives, binary revived");
      t.same(events[1], ["proto", "sentinel-direct"], "nothing else reached the worker's client");
      const state = await w.eval(`return {
        polluted: ({}).polluted === undefined ? "no" : "yes",
        count: await io.of("/").adapter.serverCount(),
        warnings: ctx.warnings.filter((w) => w.code === "${MISMATCH}").map((w) => w.message),
        sockets: (await io.fetchSockets()).length,
      }`);
      t.equal(state.polluted, "no", "no prototype was polluted");
      t.equal(state.count, 3, "no ghost server counted, no server dropped by a skewed LEFT");
      t.equal(state.warnings.length, 1, "one warning for version 2");
      t.match(state.warnings[0], /protocol version 2\b.*version 1\b/, "naming both versions");
      t.equal(state.sockets, 3, "fetchSockets still answers from every worker");
      const news = Promise.all(clients.map((s) => once(s, "news")));
      await w.eval(`io.emit("news", "still here"); return true`);
      t.same(await news, [["still here"], ["still here"], ["still here"]], "the worker still broadcasts");
      t.notOk(w.worker.isDead(), "the worker is alive");
    });

    await t.test("a value that cannot be sent throws at the caller; the cluster goes on", async (t) => {
      await reset();
      const after = Promise.all(clients.map((s) => once(s, "after-unserializable", 10_000)));
      const outcome = await c.workers[0].eval(`
        const attempt = (fn) => {
          try { fn(); return "no error"; } catch (e) { return { error: e instanceof Error, name: e.name, code: e.code, message: e.message }; }
        };
        const circular = { name: "loop" };
        circular.self = circular;
        const result = {
          bigint: attempt(() => io.emit("big", 1n)),
          circular: attempt(() => io.emit("circular", { circular })),
          nested: attempt(() => io.to("room").emit("big", { deep: [1, { n: 2n }] })),
          serverSideEmit: attempt(() => io.serverSideEmit("ping-servers", 3n)),
          getter: attempt(() => io.emit("getter", { get boom() { throw new Error("boom"); } })),
        };
        io.emit("after-unserializable");
        return result;
      `);
      for (const [name, result] of Object.entries(outcome)) {
        t.match(
          result,
          { error: true, code: "SIO_IPC_ERR_UNSERIALIZABLE" },
          `${name}: a synchronous Error with its code`,
        );
      }
      t.match(outcome.bigint.message, /BigInt/, "the message names the BigInt");
      t.match(outcome.circular.message, /circular/, "the message names the circular reference");
      await after;
      t.same(
        events,
        [["after-unserializable"], ["after-unserializable"], ["after-unserializable"]],
        "no client got a part",
      );
    });

    await t.test("fetchSockets() survives a socket.data that cannot be sent", async (t) => {
      await c.workers[1].eval(`
        class Session { constructor() { this.user = "ann"; } greet() { return "hi"; } }
        const circular = { name: "loop" };
        circular.self = circular;
        for (const socket of io.of("/").sockets.values()) {
          socket.data = {
            ok: "yes", fn() {}, session: new Session(), circular, big: 10n,
            nested: { big: 1n, keep: 2 }, date: new Date(0), buf: Buffer.from([1, 2]), sym: Symbol("s"),
            get boom() { throw new Error("getter"); }, model: { toJSON() { throw new Error("toJSON"); } },
          };
        }
        return true;
      `);
      for (const requester of [0, 2]) {
        const remote = await c.workers[requester].eval(`
          const socket = (await io.fetchSockets()).find((s) => s.id === ${JSON.stringify(clients[1].id)});
          const d = socket.data;
          return { keys: Object.keys(d).sort(), ok: d.ok, session: d.session, circular: d.circular, nested: d.nested,
            date: d.date, buf: Buffer.isBuffer(d.buf) ? [...d.buf] : null };
        `);
        t.same(
          remote,
          {
            keys: ["buf", "circular", "date", "nested", "ok", "session"],
            ok: "yes",
            session: { user: "ann" },
            circular: { name: "loop" },
            nested: { keep: 2 },
            date: "1970-01-01T00:00:00.000Z",
            buf: [1, 2],
          },
          `worker ${requester} gets the socket, without what cannot be sent`,
        );
      }
      t.equal(await c.workers[1].eval("return (await io.fetchSockets()).length"), 3, "the holder fetches too");
      // A Proxy whose traps throw defeats any walk: no answer, but no crash either.
      await c.workers[1].eval(`
        for (const socket of io.of("/").sockets.values()) {
          socket.data = new Proxy({}, { ownKeys() { throw new Error("trap"); } });
        }
        return true;
      `);
      const proxied = await c.workers[0].eval(
        "return io.timeout(300).fetchSockets().then(() => 'answered', (e) => e.message)",
      );
      t.equal(proxied, "timeout reached: missing 1 responses", "a proxy that throws costs the answer only");
      t.same(await c.serverCounts(), [3, 3, 3], "no worker crashed");
      t.same(errors, [], "no unhandled error in the primary");
    });
  });
}
