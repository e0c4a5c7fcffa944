/**
 * Issue 2 point 5: `requestsTimeout` bounds fetchSockets() and serverSideEmit() with an ack when a
 * worker hangs (blocked, not exited); the error reads as Socket.IO words it and carries the answers
 * that did arrive. Point 6: responses travel to the requester only.
 */
import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { blockWorker, installProbe, tempDir } from "../helpers/probes";
import { until } from "../helpers/wait";

// Cluster tests start real processes on a small, shared machine: more than tap's default per file.
t.setTimeout(240_000);

const REQUESTS_TIMEOUT = 500;
/** socket.io-adapter's fixed timeout, which `requestsTimeout` replaces. */
const SOCKET_IO_TIMEOUT = 5_000;
const PUBLISH = 3;
const RESPONSE = 4;

interface Outcome {
  message: string | null;
  responses: string[];
  elapsed: number;
}

// Runs in the requester; each request settles into { message, responses, elapsed }.
const REQUESTS = `
  const started = Date.now();
  const outcome = (error, responses) => ({
    message: error ? error.message : null,
    responses: [...(responses || [])].map((r) => (typeof r === "string" ? r : r.id)).sort(),
    elapsed: Date.now() - started,
  });
  const [fetched, emitted, flagged] = await Promise.all([
    io.fetchSockets().then((s) => outcome(null, s), (e) => outcome(e, e.responses)),
    new Promise((resolve) => io.serverSideEmit("ping-servers", "hung", (e, r) => resolve(outcome(e, r)))),
    io.timeout(1_500).fetchSockets().then((s) => outcome(null, s), (e) => outcome(e, e.responses)),
  ]);
  return { fetched, emitted, flagged };
`;

for (const serialization of SERIALIZATIONS) {
  t.test(`requestsTimeout bounds the requests to a hung worker (${serialization})`, { timeout: 40_000 }, async (t) => {
    const dir = tempDir(t);
    const c = await startCluster(t, {
      workers: 3,
      serialization,
      fixture: { adapter: { requestsTimeout: REQUESTS_TIMEOUT } },
    });
    const clients = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    const live = [clients[0].id!, clients[1].id!].sort();
    const { release } = await blockWorker(c.workers[2], dir);

    const { fetched, emitted, flagged } = await c.workers[0].eval<Record<string, Outcome>>(REQUESTS);
    t.equal(fetched.message, "timeout reached: missing 1 responses", "fetchSockets rejects as Socket.IO words it");
    t.same(fetched.responses, live, "err.responses holds the sockets that did arrive");
    t.equal(emitted.message, "timeout reached: missing 1 responses", "serverSideEmit's ack gets the timeout error");
    t.same(emitted.responses, ["pong from 1"], "with the answers that did arrive");
    t.comment(`timed out after ${fetched.elapsed} ms (fetchSockets), ${emitted.elapsed} ms (serverSideEmit)`);
    for (const [name, outcome] of [
      ["fetchSockets", fetched],
      ["serverSideEmit", emitted],
    ] as const) {
      t.ok(outcome.elapsed >= REQUESTS_TIMEOUT - 5, `${name} waited requestsTimeout (${outcome.elapsed} ms)`);
      t.ok(outcome.elapsed < SOCKET_IO_TIMEOUT - 1_000, `${name} did not wait socket.io-adapter's 5 s`);
    }
    t.equal(flagged.message, "timeout reached: missing 1 responses", "io.timeout(ms).fetchSockets() times out too");
    t.same(flagged.responses, live, "with the sockets that did arrive");
    t.ok(flagged.elapsed >= 1_500 - 5, `io.timeout(1500) wins over requestsTimeout (${flagged.elapsed} ms)`);

    // A broadcast with acks is bounded by io.timeout(ms), with the acks that did arrive.
    for (const [i, socket] of clients.entries()) socket.on("ask", (callback) => callback(`client of ${i}`));
    const acks = await c.workers[0].eval(`
      return new Promise((resolve) =>
        io.timeout(${REQUESTS_TIMEOUT}).emit("ask", (error, answers) => resolve({ message: error && error.message, answers: answers.sort() })),
      );
    `);
    t.same(acks, { message: "operation has timed out", answers: ["client of 0", "client of 1"] });

    // Released, the worker answers the stale requests late: they are ignored, the cluster goes on.
    release();
    const after = await c.workers[0].eval(`
      const sockets = await io.fetchSockets();
      const answers = await new Promise((resolve, reject) =>
        io.serverSideEmit("ping-servers", "after", (e, r) => (e ? reject(e) : resolve(r))),
      );
      return { sockets: sockets.length, answers: answers.sort(), count: await io.of("/").adapter.serverCount() };
    `);
    t.same(after, { sockets: 3, answers: ["pong from 1", "pong from 2"], count: 3 }, "the cluster works again");
  });

  t.test(`heartbeats drop a hung worker as a safety net (${serialization})`, { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t);
    const c = await startCluster(t, {
      workers: 3,
      serialization,
      fixture: { adapter: { heartbeatInterval: 200, heartbeatTimeout: 700 } },
    });
    const { release } = await blockWorker(c.workers[2], dir);
    const blockedAt = Date.now();
    const others = c.workers.slice(0, 2);
    await until(
      async () =>
        (await Promise.all(others.map((w) => w.eval("return io.of('/').adapter.serverCount()")))).every((n) => n === 2),
      "the others drop the hung worker",
      10_000,
    );
    const dropped = Date.now() - blockedAt;
    t.comment(`hung worker dropped ${dropped} ms after it was blocked (heartbeatTimeout 700 ms)`);
    t.equal(c.hub!.stats().workers, 3, "the hub still relays for the hung worker, which has not exited");
    release();
    await until(
      async () => (await c.serverCounts()).every((n) => n === 3),
      "the worker is counted again after its next heartbeat",
      10_000,
    );
    t.pass("a worker that recovers is counted again");
  });

  t.test(`responses go to the requester only (${serialization})`, { timeout: 30_000 }, async (t) => {
    // No periodic heartbeat during the measure: every message routed is one of the request's.
    const c = await startCluster(t, {
      workers: 3,
      serialization,
      fixture: { adapter: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 } },
    });
    const clients = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    for (const [i, socket] of clients.entries()) socket.on("ask", (callback) => callback(`client of ${i}`));
    for (const w of c.workers) await installProbe(w);

    const requests = [
      ["fetchSockets()", "return (await io.fetchSockets()).length", 3, 2],
      [
        "serverSideEmit() with an ack",
        `return new Promise((resolve) => io.serverSideEmit("ping-servers", "probe", (e, r) => resolve(r.length)))`,
        2,
        2,
      ],
      // Per other worker: one client count and one ack.
      [
        "io.timeout().emit() with acks",
        `return new Promise((resolve) => io.timeout(5_000).emit("ask", (e, r) => resolve(r.length)))`,
        3,
        4,
      ],
    ] as const;
    for (const [name, code, expected, responses] of requests) {
      const before = c.hub!.stats();
      const probesBefore = await Promise.all(c.workers.map((w) => w.eval("return ctx.probe.kinds")));
      t.equal(await c.workers[0].eval(code), expected, `${name} answers`);
      const after = c.hub!.stats();
      // Every response reached worker 0 before its eval answered; anything routed to another worker
      // left the hub before that, and so reaches that worker before the next eval.
      const probes = await Promise.all(c.workers.map((w) => w.eval("return ctx.probe.kinds")));
      const got = (i: number, kind: number) => (probes[i][kind] ?? 0) - (probesBefore[i][kind] ?? 0);
      t.equal(got(0, RESPONSE), responses, `${name}: the requester got ${responses} responses`);
      t.equal(got(1, RESPONSE), 0, `${name}: worker 1 got no response`);
      t.equal(got(2, RESPONSE), 0, `${name}: worker 2 got no response`);
      t.equal(got(1, PUBLISH) + got(2, PUBLISH), 2, `${name}: the request itself went to both others`);
      // The request to 2 workers plus each response to one: with responses to all, this would be higher.
      t.equal(after.messagesRouted - before.messagesRouted, 2 + responses, `${name}: messages routed`);
    }
  });
}
