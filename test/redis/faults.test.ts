/**
 * Faults of a bridged deployment, with a real Redis and two machines of 2 workers (A is this test
 * process, "json", on node-redis; B a forked primary, "advanced", on ioredis): Redis restarts under
 * traffic, and a machine dies.
 */
import { createClient } from "redis";
import t from "tap";
import { setupPrimary } from "../../src/index";
import { TestCluster } from "../helpers/cluster";
import { forkMachine } from "../helpers/machines";
import { startRedisServer } from "../helpers/redis-server";
import { once, until, withTimeout } from "../helpers/wait";

const ADAPTER = { heartbeatInterval: 1_000, heartbeatTimeout: 4_000, requestsTimeout: 20_000 };
const BRIDGE = { heartbeatInterval: 300, heartbeatTimeout: 2_000 };

t.test("a bridged machine survives Redis restarts and the death of another machine", async (t) => {
  const server = await startRedisServer(t);
  const redis = createClient({ url: server.url });
  redis.on("error", () => {});
  await redis.connect();
  const hub = setupPrimary({ bridge: { redis, ...BRIDGE } });
  t.teardown(() => {
    hub.close();
    redis.destroy();
  });
  const a = new TestCluster({ serialization: "json", fixture: { adapter: ADAPTER } });
  t.teardown(() => a.stop());
  const [b] = await Promise.all([
    forkMachine(t, {
      name: "b",
      client: "ioredis",
      redisUrl: server.url,
      serialization: "advanced",
      bridge: BRIDGE,
      fixture: { adapter: ADAPTER },
    }),
    a.fork(),
    a.fork(),
  ]);
  const counts = async () => [
    ...(await a.serverCounts()),
    ...(await Promise.all([
      b.eval("return io.of('/').adapter.serverCount()", 0),
      b.eval("return io.of('/').adapter.serverCount()", 1),
    ])),
  ];
  await until(async () => (await counts()).every((n) => n === 4), "4 servers everywhere", 15_000);
  const [a1, b0] = await Promise.all([a.connect(1), b.connect(0)]);
  const ticks = (client: typeof a1) => {
    const got: number[] = [];
    client.on("tick", (n: number) => got.push(n));
    return got;
  };
  const atA1 = ticks(a1);
  const atB0 = ticks(b0);
  // Traffic: worker a0 broadcasts a counter every 20 ms, until it is stopped with the cluster.
  await a.workers[0].eval(`ctx.n = 0; ctx.timer = setInterval(() => io.emit("tick", ++ctx.n), 20); return true`);
  await until(() => atB0.length > 5, "ticks to cross Redis", 10_000);

  t.test("while Redis is down, the machine works alone and counts what it could not send", async (t) => {
    await server.stop();
    await until(() => hub.stats().bridgeConnected === false, "the bridge to see Redis gone", 10_000);
    const last = atA1.at(-1)!;
    await until(() => atA1.filter((n) => n > last).length >= 10, "local ticks during the outage", 10_000);
    // The servers of B are given up after the bridge's heartbeatTimeout, and requests no longer wait for them.
    await until(async () => (await a.serverCounts()).every((n) => n === 2), "machine A alone", 10_000);
    const started = Date.now();
    const local = await a.workers[1].eval(`return (await io.fetchSockets()).length`);
    t.equal(local, 1, "fetchSockets() answers with the sockets of this machine");
    t.ok(Date.now() - started < ADAPTER.requestsTimeout / 2, "without waiting for the servers of B");
    const stats = hub.stats();
    t.ok(stats.bridgeDropped! > 0, `broadcasts for other machines are counted as dropped (${stats.bridgeDropped})`);
    t.equal(stats.bridgeRemoteServers, 0);
  });

  t.test("when Redis is back, the bridges reconnect and the machines meet again", async (t) => {
    await server.start();
    await until(() => hub.stats().bridgeConnected === true, "the bridge to reconnect", 15_000);
    await until(async () => (await counts()).every((n) => n === 4), "4 servers everywhere again", 15_000);
    const before = atB0.length;
    await until(() => atB0.length > before + 5, "ticks to cross Redis again", 10_000);
    const stats = hub.stats();
    t.ok(stats.bridgeReconnects! >= 3, `every connection came back (${stats.bridgeReconnects} reconnections)`);
    t.same(await a.workers[0].eval(`return (await io.fetchSockets()).length`), 2, "fetchSockets() reaches B again");
  });

  t.test("a machine that dies leaves the others' serverCount(), and their requests settle", async (t) => {
    await a.workers[1].eval(`io.on("hang", (callback) => callback("a1")); return true`);
    // B's workers take the request and never answer it.
    for (const i of [0, 1]) await b.eval(`io.on("hang", () => (ctx.hung = true)); return true`, i);
    const started = Date.now();
    const pending = a.workers[0].eval(
      `return await new Promise((resolve) => io.serverSideEmit("hang", (error, answers) => resolve({ error: error && error.message, answers })))`,
      30_000,
    );
    const hung = async () =>
      (await b.eval("return ctx.hung === true", 0)) && (await b.eval("return ctx.hung === true", 1));
    await until(hung, "the request to reach B", 10_000);
    await b.kill("SIGKILL");
    t.same(await withTimeout(pending, 15_000, "the request to settle"), { error: null, answers: ["a1"] });
    t.ok(Date.now() - started < ADAPTER.requestsTimeout, "before requestsTimeout");
    await until(async () => (await a.serverCounts()).every((n) => n === 2), "machine A alone", 10_000);
    t.equal(hub.stats().bridgeRemoteServers, 0);
    // The local broadcasts go on, and still leave for Redis (where nobody reads them now).
    await once(a1, "tick", 5_000);
  });
});
