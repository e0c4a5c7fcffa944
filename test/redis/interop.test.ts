/**
 * Two machines bridged through a real Redis, each a cluster of 2 workers (machine A is this test
 * process, with "json" serialization and node-redis; machine B a forked primary, with "advanced"
 * and ioredis), a server on the
 * official @socket.io/redis-streams-adapter (S), and an Emitter: every operation reaches everyone.
 */
import { createClient } from "redis";
import type { Socket } from "socket.io-client";
import t, { type Test } from "tap";
import { Emitter, type PrimaryHub, setupPrimary } from "../../src/index";
import { TestCluster } from "../helpers/cluster";
import { connectTo, type ForkedProcess, forkMachine, forkStreamsServer } from "../helpers/machines";
import { startRedisServer } from "../helpers/redis-server";
import { once, until } from "../helpers/wait";

const NAMESPACES = ["/chat"];
const ADAPTER = { heartbeatInterval: 1_000, heartbeatTimeout: 4_000, requestsTimeout: 8_000 };
const BRIDGE = { heartbeatInterval: 300, heartbeatTimeout: 3_000 };

interface World {
  a: TestCluster;
  b: ForkedProcess;
  s: ForkedProcess;
  /** One client per server, by name: a0 a1 b0 b1 s. */
  clients: Record<string, Socket>;
  emitter: Emitter;
  hub: PrimaryHub;
}

/** Every server's serverCount() in `nsp`, by name. */
async function counts(w: World, nsp = "/"): Promise<Record<string, number>> {
  const code = `return io.of(${JSON.stringify(nsp)}).adapter.serverCount()`;
  return {
    a0: await w.a.workers[0].eval(code),
    a1: await w.a.workers[1].eval(code),
    b0: await w.b.eval(code, 0),
    b1: await w.b.eval(code, 1),
    s: await w.s.eval(code),
  };
}

async function setup(t: Test): Promise<World> {
  const server = await startRedisServer(t);
  const redis = createClient({ url: server.url });
  redis.on("error", () => {});
  await redis.connect();
  const hub = setupPrimary({ bridge: { redis, ...BRIDGE } });
  t.teardown(() => {
    hub.close();
    redis.destroy();
  });
  // Machine A is this process; B and S start meanwhile: each waits only for its own servers.
  const a = new TestCluster({ serialization: "json", fixture: { adapter: ADAPTER, namespaces: NAMESPACES } });
  t.teardown(() => a.stop());
  const [b, s] = await Promise.all([
    forkMachine(t, {
      name: "b",
      client: "ioredis",
      redisUrl: server.url,
      serialization: "advanced",
      bridge: BRIDGE,
      fixture: { adapter: ADAPTER, namespaces: NAMESPACES },
    }),
    forkStreamsServer(t, { redisUrl: server.url, namespaces: NAMESPACES }),
    a.fork(),
    a.fork(),
  ]);
  const w: World = { a, b, s, clients: {}, emitter: new Emitter(), hub };
  for (const nsp of ["/", ...NAMESPACES]) {
    await until(async () => Object.values(await counts(w, nsp)).every((n) => n === 5), `5 servers in ${nsp}`, 15_000);
  }
  [w.clients.a0, w.clients.a1, w.clients.b0, w.clients.b1, w.clients.s] = await Promise.all([
    a.connect(0),
    a.connect(1),
    b.connect(0),
    b.connect(1),
    s.connect(0),
  ]);
  return w;
}

t.test("two bridged machines, a streams-adapter server and an emitter act as one cluster", async (t) => {
  const w = await setup(t);
  const names = Object.keys(w.clients);

  t.test("serverCount() counts every server on every machine, on both adapters", async (t) => {
    t.same(await counts(w), { a0: 5, a1: 5, b0: 5, b1: 5, s: 5 });
    t.same(await counts(w, "/chat"), { a0: 5, a1: 5, b0: 5, b1: 5, s: 5 });
  });

  t.test("a broadcast with binary from any server reaches every client as binary", async (t) => {
    const senders: [string, () => Promise<unknown>][] = [
      ["a0", () => w.a.workers[0].eval(`io.emit("hi", "a0", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4]) })`)],
      ["b1", () => w.b.eval(`io.emit("hi", "b1", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4]) })`, 1)],
      ["s", () => w.s.eval(`io.emit("hi", "s", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4]) })`)],
      ["emitter", async () => w.emitter.emit("hi", "emitter", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4]) })],
    ];
    for (const [sender, send] of senders) {
      const got = Promise.all(names.map((n) => once(w.clients[n], "hi", 10_000)));
      await send();
      for (const [from, bytes, nested] of await got) {
        t.equal(from, sender);
        t.same([...bytes], [1, 2, 3], `binary from ${sender}`);
        t.same([...nested.nested], [4], `nested binary from ${sender}`);
        t.ok(Buffer.isBuffer(bytes) || bytes instanceof ArrayBuffer, "arrives as binary");
      }
    }
  });

  /** Records the events a client receives, in order. */
  const seen: Record<string, string[]> = {};
  for (const n of names) {
    seen[n] = [];
    w.clients[n].onAny((event) => seen[n].push(event));
  }
  /** Emits `done` from the same sender after the message under test: it arrives after it, wherever. */
  async function afterward(send: (event: string) => Promise<unknown>, event: string): Promise<void> {
    const got = Promise.all(names.map((n) => once(w.clients[n], event, 10_000)));
    await send(event);
    await got;
  }

  t.test("rooms and except are honoured on every machine, from servers and the emitter", async (t) => {
    const joined = await Promise.all(["a1", "s"].map((n) => w.clients[n].emitWithAck("join", "r1")));
    t.same(joined, ["1", "s"]);
    for (const n of names) seen[n].length = 0;
    await w.b.eval(`io.to("r1").emit("room"); return true`, 0);
    await afterward((e) => w.b.eval(`io.emit("${e}"); return true`, 0), "done1");
    w.emitter.except("r1").emit("others");
    await afterward(async (e) => w.emitter.emit(e), "done2");
    await w.s.eval(`io.to("r1").except("r1").emit("nobody"); io.in(["r1"]).emit("room-from-s")`);
    await afterward((e) => w.s.eval(`io.emit("${e}")`), "done3");
    for (const n of names) {
      const inRoom = n === "a1" || n === "s";
      const expected = inRoom
        ? ["room", "done1", "done2", "room-from-s", "done3"]
        : ["done1", "others", "done2", "done3"];
      t.same(seen[n], expected, `what ${n} received`);
    }
  });

  t.test("namespaces stay apart across machines", async (t) => {
    const chat = await Promise.all([
      w.a.connect(0, "/chat"),
      w.b.connect(1, "/chat"),
      connectTo(w.s.ports[0], "/chat", {}, w.s.clients),
    ]);
    const got = Promise.all(chat.map((c) => once(c, "in-chat", 10_000)));
    await w.s.eval(`io.of("/chat").emit("in-chat", "s")`);
    t.same(await got, [["s"], ["s"], ["s"]]);
    const fromEmitter = Promise.all(chat.map((c) => once(c, "in-chat", 10_000)));
    w.emitter.of("/chat").emit("in-chat", "emitter");
    t.same(await fromEmitter, [["emitter"], ["emitter"], ["emitter"]]);
    await afterward((e) => w.a.workers[1].eval(`io.emit("${e}"); return true`), "done4");
    for (const n of names) t.notOk(seen[n].includes("in-chat"), `${n} on "/" got nothing of "/chat"`);
  });

  t.test("client acknowledgements come back from every machine", async (t) => {
    for (const n of names) w.clients[n].on("ask", (callback: (answer: string) => void) => callback(n));
    const fromA = await w.a.workers[0].eval(`return (await io.timeout(8000).emitWithAck("ask")).sort()`);
    t.same(fromA, [...names].sort(), "from a worker of machine A");
    const fromS = await w.s.eval(`return (await io.timeout(8000).emitWithAck("ask")).sort()`);
    t.same(fromS, [...names].sort(), "from the streams-adapter server");
    const fromEmitter = await new Promise((resolve, reject) =>
      w.emitter
        .timeout(8_000)
        .emit("ask", (error: Error | null, answers: string[]) => (error ? reject(error) : resolve(answers))),
    );
    t.same((fromEmitter as string[]).sort(), [...names].sort(), "from the emitter");
  });

  t.test("fetchSockets() returns the sockets of every machine, from every kind of caller", async (t) => {
    const ids = names.map((n) => w.clients[n].id).sort();
    const code = `return (await io.fetchSockets()).map((s) => s.id).sort()`;
    t.same(await w.a.workers[1].eval(code), ids, "from machine A");
    t.same(await w.b.eval(code, 0), ids, "from machine B");
    t.same(await w.s.eval(code), ids, "from the streams-adapter server");
    t.same((await w.emitter.fetchSockets()).map((s) => s.id).sort(), ids, "from the emitter");
    const remote = await w.s.eval(
      `const s = (await io.in("r1").fetchSockets()).find((s) => s.id === ${JSON.stringify(w.clients.a1.id)});
       return { rooms: [...s.rooms].sort(), query: s.handshake.query.EIO }`,
    );
    t.same(remote, { rooms: ["r1", w.clients.a1.id].sort(), query: "4" }, "with rooms and handshake");
  });

  t.test("socketsJoin and socketsLeave act on every machine", async (t) => {
    await w.s.eval(`io.socketsJoin("all")`);
    const inAll = `return (await io.in("all").fetchSockets()).length`;
    await until(async () => (await w.a.workers[0].eval(inAll)) === 5, "every socket joined 'all'", 10_000);
    await w.a.workers[0].eval(`io.in(${JSON.stringify(w.clients.b0.id)}).socketsLeave("all"); return true`);
    w.emitter.in(w.clients.s.id).socketsLeave("all");
    await until(async () => (await w.s.eval(inAll)) === 3, "b0 and s left 'all'", 10_000);
    t.same(
      await w.b.eval(`return (await io.in("all").fetchSockets()).map((s) => s.id).sort()`, 1),
      [w.clients.a0.id, w.clients.a1.id, w.clients.b1.id].sort(),
    );
  });

  t.test("serverSideEmit() with an acknowledgement collects one answer per other server", async (t) => {
    const emit = `return await new Promise((resolve, reject) => io.serverSideEmit("ping-servers", 1, (error, answers) => error ? reject(error) : resolve(answers.sort())))`;
    t.same(await w.a.workers[0].eval(emit), ["pong from 1", "pong from b0", "pong from b1", "pong from s"]);
    t.same(await w.b.eval(emit, 1), ["pong from 0", "pong from 1", "pong from b0", "pong from s"]);
    t.same(await w.s.eval(emit), ["pong from 0", "pong from 1", "pong from b0", "pong from b1"]);
    const answers = await new Promise<string[]>((resolve, reject) =>
      w.emitter.serverSideEmit("ping-servers", 2, (error: Error | null, answers: string[]) =>
        error ? reject(error) : resolve(answers),
      ),
    );
    t.same(answers.sort(), ["pong from 0", "pong from 1", "pong from b0", "pong from b1", "pong from s"]);
  });

  t.test("disconnectSockets() disconnects the sockets of every machine", async (t) => {
    const doomed = await Promise.all([w.a.connect(1), w.b.connect(0), connectTo(w.s.ports[0], "/", {}, w.s.clients)]);
    await Promise.all(doomed.map((c) => c.emitWithAck("join", "kick")));
    const gone = Promise.all(doomed.map((c) => once(c, "disconnect", 10_000)));
    await w.b.eval(`io.in("kick").disconnectSockets(); return true`, 1);
    t.same(
      (await gone).map(([reason]) => reason),
      ["io server disconnect", "io server disconnect", "io server disconnect"],
    );
    for (const n of names) t.ok(w.clients[n].connected, `${n} is still connected`);
  });

  t.test("the bridge counts what crossed Redis", async (t) => {
    const stats = w.hub.stats();
    t.equal(stats.bridgeConnected, true);
    // A streams-adapter server has one uid per namespace, ours one per process.
    t.equal(stats.bridgeRemoteServers, 4, 'b0, b1, and s in "/" and in "/chat"');
    t.equal(stats.bridgeOfficialServers, 2, 'S in "/" and in "/chat": the bridge counts each worker for it');
    t.equal(stats.bridgeConnections, 4, "writer, reader, subscriber, and one presence connection for the 2nd worker");
    t.ok(stats.bridgeMessagesOut! > 0 && stats.bridgeMessagesIn! > 0);
    t.equal(stats.bridgeDropped, 0);
  });
});
