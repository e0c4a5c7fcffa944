/**
 * `countEachServer: "auto"` (the default) with a real Redis: two bridged machines (A, this test
 * process, 2 workers on node-redis; B, a forked primary, 3 workers on ioredis) hold 3 connections
 * each while they are alone; a server on the official @socket.io/redis-streams-adapter (S) makes
 * them open one subscriber per worker beyond the first, so that S counts and waits for every
 * worker; once S is gone, they close those connections again.
 */
import { createClient } from "redis";
import type { Socket } from "socket.io-client";
import t from "tap";
import { setupPrimary } from "../../src/index";
import { TestCluster } from "../helpers/cluster";
import { connectTo, type ForkedProcess, forkMachine, forkStreamsServer } from "../helpers/machines";
import { startRedisServer } from "../helpers/redis-server";
import { once, until } from "../helpers/wait";

const ADAPTER = { heartbeatInterval: 1_000, heartbeatTimeout: 4_000, requestsTimeout: 8_000 };
const BRIDGE = { heartbeatInterval: 250, heartbeatTimeout: 1_500 };
const WORKERS = ["0", "1", "b0", "b1", "b2"];

t.test("auto mode: per-worker subscribers only while a streams-adapter server is on Redis", async (t) => {
  const server = await startRedisServer(t);
  const redis = createClient({ url: server.url });
  redis.on("error", () => {});
  await redis.connect();
  const hub = setupPrimary({ bridge: { redis, ...BRIDGE } });
  // The test's own connection, to look at Redis: counted in CLIENT LIST.
  const inspector = createClient({ url: server.url });
  inspector.on("error", () => {});
  await inspector.connect();
  t.teardown(() => {
    hub.close();
    redis.destroy();
    inspector.destroy();
  });
  const clientList = async () =>
    String(await inspector.sendCommand(["CLIENT", "LIST"]))
      .trim()
      .split("\n").length;
  const listings = async () => {
    const info = String(await inspector.sendCommand(["INFO", "commandstats"]));
    return Number(/cmdstat_pubsub\|channels:calls=(\d+)/.exec(info)?.[1] ?? 0);
  };
  const a = new TestCluster({ serialization: "json", fixture: { adapter: ADAPTER } });
  t.teardown(() => a.stop());
  const [b] = await Promise.all([
    forkMachine(t, {
      name: "b",
      client: "ioredis",
      redisUrl: server.url,
      workers: 3,
      serialization: "advanced",
      bridge: BRIDGE,
      fixture: { adapter: ADAPTER },
    }),
    a.fork(),
    a.fork(),
  ]);
  const statsOfB = () => b.eval("return hub.stats()", "primary");
  const workerCounts = async () => [
    ...(await a.serverCounts()),
    ...(await Promise.all([0, 1, 2].map((i) => b.eval("return io.of('/').adapter.serverCount()", i)))),
  ];
  await until(async () => (await workerCounts()).every((n) => n === 5), "5 servers everywhere", 20_000);
  const clients: Socket[] = await Promise.all([a.connect(0), a.connect(1), b.connect(0), b.connect(1), b.connect(2)]);
  const serverSideEmit = `return await new Promise((resolve, reject) => io.serverSideEmit("ping-servers", (error, answers) => error ? reject(error) : resolve(answers.sort())))`;
  let s: ForkedProcess | null = null;

  t.test("two bridged machines alone hold 3 connections each, and everything works", async (t) => {
    // Several listings on each machine: none may open a connection.
    const before = await listings();
    await until(async () => (await listings()) >= before + 8, "4 listings per machine", 20_000);
    const [statsA, statsB] = [hub.stats(), await statsOfB()];
    t.equal(statsA.bridgeConnections, 3, "machine A: writer, reader, subscriber");
    t.equal(statsB.bridgeConnections, 3, "machine B: writer, reader, subscriber");
    t.equal(statsA.bridgeOfficialServers, 0);
    t.equal(statsB.bridgeOfficialServers, 0);
    t.equal(statsA.bridgeRemoteServers, 3);
    t.equal(await clientList(), 3 + 3 + 1, "CLIENT LIST: both machines and this test's connection");
    t.same(await workerCounts(), [5, 5, 5, 5, 5]);
    const got = Promise.all(clients.map((c) => once(c, "hi", 10_000)));
    await a.workers[0].eval(`io.emit("hi", "a0"); return true`);
    t.same(await got, [["a0"], ["a0"], ["a0"], ["a0"], ["a0"]], "a broadcast reaches every worker");
    t.equal(await b.eval(`return (await io.fetchSockets()).length`, 2), 5, "fetchSockets() sees every machine");
    t.same(await a.workers[1].eval(serverSideEmit), ["pong from 0", "pong from b0", "pong from b1", "pong from b2"]);
  });

  t.test("a streams-adapter server joins: the machines count each worker for it", async (t) => {
    s = await forkStreamsServer(t, { redisUrl: server.url });
    const joined = Date.now();
    // A: 2 workers, 1 more subscriber; B: 3 workers, 2 more; S: 3 connections of its own.
    await until(async () => (await clientList()) === 4 + 5 + 3 + 1, "the per-worker subscribers", 20_000);
    const switched = Date.now() - joined;
    t.comment(
      `per-worker subscribers open ${switched} ms after S was ready (heartbeatInterval ${BRIDGE.heartbeatInterval} ms)`,
    );
    const [statsA, statsB] = [hub.stats(), await statsOfB()];
    t.equal(statsA.bridgeConnections, 4, "machine A: workers + 2");
    t.equal(statsB.bridgeConnections, 5, "machine B: workers + 2");
    t.equal(statsA.bridgeOfficialServers, 1, "S has one uid: it serves one namespace");
    t.equal(statsB.bridgeOfficialServers, 1);
    const official = s;
    await until(
      async () => (await official.eval("return io.of('/').adapter.serverCount()")) === 6,
      "S to count 6",
      10_000,
    );
    await until(async () => (await workerCounts()).every((n) => n === 6), "6 servers everywhere", 10_000);
    clients.push(await connectTo(official.ports[0], "/", {}, official.clients));
    const ids = clients.map((c) => c.id).sort();
    t.same(
      await official.eval(`return (await io.fetchSockets()).map((s) => s.id).sort()`),
      ids,
      "S fetches every socket",
    );
    t.same(
      await official.eval(serverSideEmit),
      WORKERS.map((w) => `pong from ${w}`),
      "S hears every worker",
    );
    t.same(await a.workers[0].eval(`return (await io.fetchSockets()).length`), 6, "the workers reach S");
  });

  t.test("the streams-adapter server leaves: the extra connections close", async (t) => {
    const official = s!;
    clients.pop();
    await official.stop();
    const left = Date.now();
    await until(async () => (await clientList()) === 3 + 3 + 1, "3 connections per machine again", 20_000);
    t.comment(
      `per-worker subscribers closed ${Date.now() - left} ms after S left (heartbeatTimeout ${BRIDGE.heartbeatTimeout} ms)`,
    );
    const [statsA, statsB] = [hub.stats(), await statsOfB()];
    t.equal(statsA.bridgeConnections, 3);
    t.equal(statsB.bridgeConnections, 3);
    t.equal(statsA.bridgeOfficialServers, 0);
    await until(async () => (await workerCounts()).every((n) => n === 5), "5 servers everywhere again", 10_000);
    const got = Promise.all(clients.map((c) => once(c, "bye", 10_000)));
    await b.eval(`io.emit("bye"); return true`, 1);
    await got;
    t.same(await a.workers[0].eval(serverSideEmit), ["pong from 1", "pong from b0", "pong from b1", "pong from b2"]);
  });
});
