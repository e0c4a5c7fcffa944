/**
 * Two machines bridged through a real Redis, each a cluster of 2 workers (machine A is this test
 * process, with "json" serialization; machine B a forked primary, with "advanced"), a server on the
 * official @socket.io/redis-streams-adapter (S), and an Emitter: every operation reaches everyone.
 */
import { createClient } from "redis";
import type { Socket } from "socket.io-client";
import t, { type Test } from "tap";
import { Emitter, setupPrimary } from "../../src/index";
import { startCluster, type TestCluster } from "../helpers/cluster";
import { connectTo, type ForkedProcess, forkMachine, forkStreamsServer } from "../helpers/machines";
import { startRedisServer } from "../helpers/redis-server";
import { collect, once, until } from "../helpers/wait";

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
  const a = await startCluster(t, { workers: 2, serialization: "json", fixture: { adapter: ADAPTER, namespaces: NAMESPACES } });
  const [b, s] = await Promise.all([
    forkMachine(t, {
      name: "b",
      redisUrl: server.url,
      serialization: "advanced",
      bridge: BRIDGE,
      fixture: { adapter: ADAPTER, namespaces: NAMESPACES },
    }),
    forkStreamsServer(t, { redisUrl: server.url, namespaces: NAMESPACES }),
  ]);
  const w: World = { a, b, s, clients: {}, emitter: new Emitter() };
  for (const nsp of ["/", ...NAMESPACES]) {
    await until(async () => Object.values(await counts(w, nsp)).every((n) => n === 5), `5 servers in ${nsp}`, 15_000);
  }
  w.clients.a0 = await a.connect(0);
  w.clients.a1 = await a.connect(1);
  w.clients.b0 = await b.connect(0);
  w.clients.b1 = await b.connect(1);
  w.clients.s = await s.connect(0);
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
});
