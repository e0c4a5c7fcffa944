/**
 * Issue 2 point 4: a worker that leaves (SIGKILL, process.disconnect(), a normal exit) is known to
 * the others at once, with the DEFAULT heartbeat settings: serverCount() drops and pending requests
 * settle with the answers of the live workers, without an error, long before any timeout. A worker
 * forked later is counted and reached at once.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { SERIALIZATIONS, startCluster, type TestCluster } from "../helpers/cluster";
import { type AfterBlock, blockWorker, tempDir, watchProcessErrors } from "../helpers/probes";
import { collect, once, until, withTimeout } from "../helpers/wait";

// Cluster tests start real processes on a small, shared machine: more than tap's default per file.
t.setTimeout(240_000);

/** Far beyond the settle delay we expect: a request that waits for it has missed the departure. */
const LONG_TIMEOUT = 10_000;
/** The issue asks for 200 ms; the margin is for a slow, shared machine. */
const SETTLE_BOUND = 1_000;

type Departure = "SIGKILL" | AfterBlock;
const DEPARTURES: Departure[] = ["SIGKILL", "disconnect", "exit"];

interface Settled {
  name: string;
  at: number;
  error: string | null;
  value: string[];
}

// Started in worker 0; each settles into { name, at: Date.now() in the worker, error, value }.
const START_REQUESTS = (tag: string) => `
  ctx.settled = [];
  const done = (name, error, value) => {
    ctx.settled.push(name);
    return { name, at: Date.now(), error: error ? error.message : null, value: value ? [...value].sort() : [] };
  };
  ctx.pending = Promise.all([
    io.fetchSockets().then(
      (sockets) => done("fetchSockets", null, sockets.map((s) => s.id)),
      (error) => done("fetchSockets", error),
    ),
    new Promise((resolve) =>
      io.serverSideEmit("ping-servers", ${JSON.stringify(tag)}, (error, answers) =>
        resolve(done("serverSideEmit with ack", error, answers)),
      ),
    ),
    new Promise((resolve) =>
      io.timeout(${LONG_TIMEOUT}).emit("ask", ${JSON.stringify(tag)}, (error, answers) =>
        resolve(done("io.timeout().emit with acks", error, answers)),
      ),
    ),
  ]);
  return true;
`;

async function leave(c: TestCluster, victim: number, departure: Departure, release: () => number): Promise<number> {
  const { worker, exited } = c.workers[victim];
  if (departure !== "SIGKILL") return release();
  const at = Date.now();
  worker.process.kill("SIGKILL");
  await withTimeout(exited, 10_000, `worker ${victim} to die`);
  return at;
}

for (const serialization of SERIALIZATIONS) {
  t.test(
    `a worker that leaves is known at once; late workers join at once (${serialization})`,
    { timeout: 50_000 },
    async (t) => {
      const dir = tempDir(t);
      // Worker 0 asks, worker 1 witnesses, workers 2, 3, 4 leave one by one (default heartbeats).
      const c = await startCluster(t, {
        workers: 5,
        serialization,
        fixture: { adapter: { requestsTimeout: LONG_TIMEOUT } },
      });
      const clients = await Promise.all(c.workers.map((w) => c.connect(w.index)));
      const answered = new Map<string, Set<number>>();
      for (const [i, socket] of clients.entries()) {
        socket.on("ask", (tag: string, callback: (answer: string) => void) => {
          if (!answered.has(tag)) answered.set(tag, new Set());
          answered.get(tag)!.add(i);
          callback(`client of ${i}`);
        });
      }
      const live = new Set([0, 1, 2, 3, 4]);

      for (const [round, departure] of DEPARTURES.entries()) {
        const victim = 2 + round;
        const tag = `${departure}-${serialization}`;
        // Blocked, the victim cannot answer before it leaves: only its departure can settle the requests.
        const { release } = await blockWorker(c.workers[victim], dir, departure === "SIGKILL" ? "resume" : departure);
        await c.workers[0].eval(START_REQUESTS(tag));
        const others = [...live].filter((i) => i !== victim && i !== 0);
        await until(
          async () => {
            const handled = await Promise.all(
              others.map((i) => c.workers[i].eval(`return ctx.serverSideEvents.some((e) => e.args[0] === "${tag}")`)),
            );
            const acked = [...live].filter((i) => i !== victim).every((i) => answered.get(tag)?.has(i));
            return handled.every(Boolean) && acked;
          },
          "every live worker has answered",
          10_000,
        );
        t.same(await c.workers[0].eval("return ctx.settled"), [], `${departure}: requests still wait for the victim`);

        const leftAt = await leave(c, victim, departure, release);
        const { results, serverCount } = await c.workers[0].eval<{ results: Settled[]; serverCount: number }>(
          `return { results: await ctx.pending, serverCount: await io.of("/").adapter.serverCount() }`,
          LONG_TIMEOUT + 5_000,
        );
        live.delete(victim);
        const expected = {
          fetchSockets: [...live].map((i) => clients[i].id!).sort(),
          "serverSideEmit with ack": others.map((i) => `pong from ${i}`).sort(),
          "io.timeout().emit with acks": [...live].map((i) => `client of ${i}`).sort(),
        };
        for (const result of results) {
          const delay = result.at - leftAt;
          t.comment(`${departure} (${serialization}): ${result.name} settled ${delay} ms after the departure`);
          t.equal(result.error, null, `${departure}: ${result.name} settles without an error`);
          t.same(result.value, expected[result.name as keyof typeof expected], `${departure}: ${result.name} answers`);
          t.ok(delay < SETTLE_BOUND, `${departure}: ${result.name} settled in ${delay} ms < ${SETTLE_BOUND} ms`);
        }
        t.equal(serverCount, live.size, `${departure}: the requester counts ${live.size} servers`);
        // Far below heartbeatTimeout (10 s): the count drops on the hub's notice, not a missed heartbeat.
        await until(
          async () => (await c.serverCounts()).every((n) => n === live.size),
          `every live worker counts ${live.size} servers`,
          3_000,
        );
        if (departure !== "SIGKILL") {
          await withTimeout(c.workers[victim].exited, 10_000, `worker ${victim} to exit`);
          t.equal(c.workers[victim].worker.process.exitCode, 0, `${departure}: the victim exited normally`);
        }
      }
      t.equal(c.hub!.stats().workers, live.size, "the hub counts the live workers");

      // A worker forked later is counted at once (before the first periodic heartbeat, 5 s) and reached.
      const forkedAt = Date.now();
      const late = await c.fork();
      live.add(late.index);
      await until(
        async () => (await c.serverCounts()).every((n) => n === live.size),
        `every worker counts ${live.size} servers`,
        4_000,
      );
      t.comment(`late worker counted everywhere ${Date.now() - forkedAt} ms after fork()`);
      t.equal(c.hub!.stats().workers, live.size, "the hub counts the late worker");
      const lateClient = await c.connect(late.index);
      const news = once(lateClient, "news");
      await c.workers[0].eval(`io.emit("news", "to the late worker"); return true`);
      t.same(await news, ["to the late worker"], "the late worker's clients get broadcasts");
      const fromLate = once(clients[1], "news-from-late");
      await late.eval(`io.emit("news-from-late", "from the late worker"); return true`);
      t.same(await fromLate, ["from the late worker"], "the late worker's broadcasts reach the others");
      const sockets = await late.eval(`return (await io.fetchSockets()).length`);
      t.equal(sockets, live.size, "the late worker fetches the sockets of every live worker");
    },
  );
}

/*
 * Issue 2 point 10: failed sends (a worker killed mid-storm, a channel closed under a sender) are
 * absorbed: no unhandled error in the primary or the worker, drops counted in hub.stats().
 */
const STORM = 3_000;

for (const serialization of SERIALIZATIONS) {
  t.test(
    `a worker killed during a broadcast storm costs no unhandled error (${serialization})`,
    { timeout: 50_000 },
    async (t) => {
      const { errors } = watchProcessErrors(t);
      const c = await startCluster(t, { workers: 3, serialization });
      const survivor = await c.connect(2);
      const workerErrors: string[] = [];
      c.workers[1].worker.on("error", (error) => workerErrors.push(String(error)));
      const received = collect(survivor, "storm", STORM, 40_000);
      const before = c.hub!.stats();
      await c.workers[0].eval(`
      const payload = "x".repeat(1024);
      let sent = 0;
      ctx.storm = new Promise((resolve) => {
        const step = () => {
          for (let i = 0; i < 100 && sent < ${STORM}; i++) io.emit("storm", sent++, payload);
          if (sent < ${STORM}) setImmediate(step);
          else resolve(sent);
        };
        step();
      });
      return true;
    `);
      let maxQueued = 0;
      await until(
        () => {
          const stats = c.hub!.stats();
          maxQueued = Math.max(maxQueued, stats.messagesQueued);
          return stats.messagesRouted - before.messagesRouted >= 300;
        },
        "the storm is under way",
        20_000,
      );
      await c.kill(1, "SIGKILL");
      t.equal(await c.workers[0].eval("return ctx.storm", 40_000), STORM, "the storm went on to its end");
      const events = (await received).map(([index]: [number]) => index);
      t.same(
        events,
        Array.from({ length: STORM }, (_, i) => i),
        "a live worker's client got every broadcast, in order",
      );
      const after = c.hub!.stats();
      t.comment(
        `storm (${serialization}): ${after.messagesDropped - before.messagesDropped} sends dropped, ${maxQueued} queued at most`,
      );
      t.ok(after.messagesDropped >= before.messagesDropped, "drops, if any, are counted");
      t.same(errors, [], "no unhandled error in the primary");
      t.same(workerErrors, [], "no error event on the killed worker");
      await until(async () => (await c.serverCounts()).every((n) => n === 2), "the others count 2 servers", 3_000);
      const news = once(survivor, "news");
      await c.workers[0].eval(`io.emit("news", 1); return true`);
      t.same(await news, [1], "the cluster still broadcasts");
    },
  );

  for (const cutter of ["the primary", "the worker itself"]) {
    t.test(
      `a worker whose channel is closed by ${cutter} mid-burst does not crash (${serialization})`,
      { timeout: 30_000 },
      async (t) => {
        const { errors } = watchProcessErrors(t);
        const dir = tempDir(t);
        const report = join(dir, "report.json");
        const c = await startCluster(t, { workers: 3, serialization });
        const victim = c.workers[2];
        // Whatever goes wrong in the victim is written down as it exits: its channel is gone by then.
        await victim.eval(`
        const fs = require("node:fs");
        ctx.report = { errors: [], emits: 0, emitsWhileDisconnected: 0 };
        process.on("uncaughtException", (e) => ctx.report.errors.push(String(e && e.stack)));
        process.on("unhandledRejection", (e) => ctx.report.errors.push(String(e && e.stack)));
        process.on("exit", () => fs.writeFileSync(${JSON.stringify(report)}, JSON.stringify(ctx.report)));
        ctx.burst = (n) => {
          for (let i = 0; i < n; i++) {
            io.emit("burst", i, "y".repeat(512));
            ctx.report.emits++;
            if (!process.connected) ctx.report.emitsWhileDisconnected++;
          }
        };
        return true;
      `);
        if (cutter === "the primary") {
          await victim.eval(`
          const step = () => { ctx.burst(50); setImmediate(step); };
          step();
          return true;
        `);
          const before = c.hub!.stats().messagesRouted;
          await until(() => c.hub!.stats().messagesRouted - before >= 200, "the burst is under way", 10_000);
          victim.worker.process.disconnect();
        } else {
          // No reply can come back: send the command, then wait for the exit.
          victim.worker.send({ test: "eval", id: -1, code: "ctx.burst(50); process.disconnect(); ctx.burst(200);" });
        }
        await withTimeout(victim.exited, 10_000, "the victim to exit");
        t.equal(
          victim.worker.process.exitCode,
          0,
          "the victim exits with code 0 (cluster exits a disconnected worker)",
        );
        const { errors: victimErrors, emits, emitsWhileDisconnected } = JSON.parse(readFileSync(report, "utf8"));
        t.same(victimErrors, [], "no uncaught error in the victim");
        t.comment(`${cutter} (${serialization}): ${emits} emits, ${emitsWhileDisconnected} after the channel closed`);
        if (cutter === "the worker itself") t.equal(emitsWhileDisconnected, 200, "emits after the close did not throw");
        t.same(errors, [], "no unhandled error in the primary");
        await until(async () => (await c.serverCounts()).every((n) => n === 2), "the others count 2 servers", 3_000);
        const client = await c.connect(0);
        const news = once(client, "news");
        await c.workers[1].eval(`io.emit("news", 2); return true`);
        t.same(await news, [2], "the cluster still broadcasts");
      },
    );
  }
}
