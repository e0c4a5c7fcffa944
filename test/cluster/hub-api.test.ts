/**
 * Issue 2 point 11: setupPrimary() is idempotent and refused outside the primary; hub.stats()
 * counts; hub.attach(child) relays for a forked helper; hub.close() stops relaying and releases
 * every listener.
 */
import { type ChildProcess, fork } from "node:child_process";
import cluster from "node:cluster";
import { join } from "node:path";
import t from "tap";
import { setupPrimary } from "../../src/index";
import { SERIALIZATIONS, startCluster, usesDataSocket } from "../helpers/cluster";
import { installProbe } from "../helpers/probes";
import { once, until, withTimeout } from "../helpers/wait";

// Cluster tests start real processes on a small, shared machine: more than tap's default per file.
t.setTimeout(240_000);

const HELPER = join(__dirname, "..", "fixtures", "helper.js");
const STATS_KEYS = [
  "broadcastsFiltered",
  "bytesRouted",
  "helpers",
  "messagesDropped",
  "messagesIgnored",
  "messagesOverflowed",
  "messagesOverflowedAtSenders",
  "messagesQueued",
  "messagesRejected",
  "messagesRouted",
  "messagesTooLarge",
  "readsPaused",
  "recoveryLogBytes",
  "recoveryLogEntries",
  "recoveryLogEvicted",
  "recoverySessions",
  "workers",
];

/** Resolves with the next message of the helper that matches `test`. */
function fromHelper(child: ChildProcess, test: (message: any) => boolean, what: string): Promise<any> {
  let listener: (message: any) => void = () => {};
  const promise = new Promise((resolve) => {
    listener = (message) => {
      if (test(message)) resolve(message);
    };
    child.on("message", listener);
  });
  return withTimeout(promise, 10_000, what).finally(() => child.off("message", listener));
}

const listenerCounts = (emitter: NodeJS.EventEmitter) =>
  ["message", "disconnect", "exit"].map((event) => emitter.listenerCount(event));

for (const serialization of SERIALIZATIONS) {
  t.test(`the primary's hub (${serialization})`, { timeout: 120_000 }, async (t) => {
    // No periodic heartbeat: every message routed during a check is one of the check's.
    const c = await startCluster(t, {
      workers: 3,
      serialization,
      fixture: { adapter: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 } },
    });
    const hub = c.hub!;
    const clients = await Promise.all([0, 1, 2].map((i) => c.connect(i)));

    await t.test("setupPrimary() returns the one hub, and is refused in a worker", async (t) => {
      t.equal(setupPrimary(), hub, "a second call returns the same hub");
      t.equal(setupPrimary({}), hub, "with options too");
      t.throws(() => setupPrimary("fast" as never), TypeError, "options that are not an object");
      const error = await c.workers[0].eval(`
        try { require("../..").setupPrimary(); return null; }
        catch (e) { return { isError: e instanceof Error, name: e.name, code: e.code, message: e.message }; }
      `);
      t.match(
        error,
        { isError: true, code: "SIO_IPC_ERR_WRONG_PROCESS", message: /primary/ },
        "a worker gets the code",
      );
    });

    await t.test("hub.stats() counts the workers and what is routed", async (t) => {
      const before = hub.stats();
      t.same(Object.keys(before).sort(), STATS_KEYS, "a plain object of the documented counters");
      t.ok(
        Object.values(before).every((v) => Number.isInteger(v) && v >= 0),
        "every counter is a non-negative integer",
      );
      t.equal(before.workers, 3, "3 workers");
      t.equal(before.helpers, 0, "no helper yet");
      const got = Promise.all([1, 2].map((i) => once(clients[i], "counted")));
      await c.workers[0].eval(`io.emit("counted", "x".repeat(1_000)); return true`);
      await got;
      const after = hub.stats();
      t.equal(after.messagesRouted - before.messagesRouted, 2, "one broadcast routed to 2 workers");
      t.ok(after.bytesRouted - before.bytesRouted > 2_000, "its bytes counted for each");
      t.equal(after.messagesIgnored - before.messagesIgnored, 1, "the test's own eval reply ignored");
      t.equal(after.messagesRejected, before.messagesRejected, "nothing rejected");
    });

    await t.test("hub.attach(child) relays for a forked helper", async (t) => {
      const child = fork(HELPER, [], { serialization, execArgv: [] });
      t.teardown(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill();
      });
      await fromHelper(child, (m) => m?.helper === "ready", "the helper to start");
      const own = listenerCounts(child);
      t.equal(hub.attach(child), hub, "attach returns the hub");
      t.equal(hub.attach(child), hub, "attach again is a no-op");
      t.same(
        listenerCounts(child).map((n, i) => n - own[i]),
        [1, 1, 1],
        "one link: one listener for each of message, disconnect, exit",
      );
      t.equal(hub.stats().helpers, 1, "one helper, attached twice");

      const welcome = fromHelper(child, (m) => m?.envelope?.k === 2, "WELCOME");
      child.send({ cmd: "hello" });
      const { envelope } = await welcome;
      const uids = await Promise.all(c.workers.map((w) => w.eval(`return io.of("/").adapter.uid`)));
      t.same(
        envelope.servers.map(([server]: [string]) => server).sort(),
        [...uids].sort(),
        "the hub welcomes the helper with every server",
      );
      t.ok(
        envelope.servers.every(([, namespaces]: [string, string[]]) => namespaces.includes("/")),
        "with their namespaces",
      );

      const events: string[] = [];
      clients[0].onAny((event: string) => events.push(event));
      const arrived = Promise.all(clients.map((s) => once(s, "from-helper", 10_000)));
      const sentinel = once(clients[0], "sentinel-helper", 10_000);
      child.send({ cmd: "broadcast", event: "from-helper" });
      child.send({ cmd: "broadcast", event: "sentinel-helper" });
      for (const [text, bytes] of await arrived) {
        t.equal(text, "from the helper");
        t.ok(Buffer.isBuffer(bytes) && bytes.equals(Buffer.from([1, 2, 3])), "binary arrives as binary");
      }
      await sentinel;
      t.same(events, ["from-helper", "sentinel-helper"], "delivered once, though attached twice");

      const namespace = fromHelper(child, (m) => m?.envelope?.k === 5 && m.envelope.n === "/added", "NAMESPACE");
      await c.workers[1].eval(`io.of("/added"); return true`);
      t.match((await namespace).envelope, { uid: uids[1], n: "/added", up: true }, "namespace events reach the helper");

      child.send({ cmd: "exit" });
      await withTimeout(once(child, "exit"), 10_000, "the helper to exit");
      t.equal(hub.stats().helpers, 0, "the helper is detached when it exits");
      t.same(listenerCounts(child), own, "its listeners are removed");
      t.same(await c.serverCounts(), [3, 3, 3], "the workers never counted the helper as a server");
    });

    await t.test("hub.attach() refuses what is not a child process", async (t) => {
      for (const value of [undefined, null, 42, "child", {}, { send: 1, on: 1 }]) {
        t.throws(() => hub.attach(value as never), TypeError, `attach(${JSON.stringify(value)})`);
      }
    });

    await t.test("hub.close() stops relaying and releases every listener", async (t) => {
      for (const w of c.workers) await installProbe(w);
      const forkListeners = cluster.listenerCount("fork");
      const before = c.workers.map((w) => listenerCounts(w.worker));
      hub.close();
      t.doesNotThrow(() => hub.close(), "close() again is a no-op");
      t.equal(cluster.listenerCount("fork"), forkListeners - 1, "the cluster's fork listener is removed");
      t.same(
        c.workers.map((w) => listenerCounts(w.worker)),
        before.map((counts) => counts.map((n) => n - 1)),
        "each worker's message, disconnect and exit listeners are removed",
      );
      t.equal(hub.stats().workers, 0, "the hub relays for no worker");

      const probe = () => c.workers[1].eval("return ctx.probe.kinds[3] || 0");
      if (usesDataSocket({ serialization })) {
        // The hub closed the workers' data sockets: each knows at once that it is on its own, and
        // sends nothing more.
        await until(async () => (await c.serverCounts()).join() === "1,1,1", "each worker to know it is alone");
        const published = await probe();
        await c.workers[0].eval(`io.emit("after-close"); return true`);
        t.equal(await c.workers[0].eval(`return require("../../dist/worker").workerLink()`), null, "no link left");
        t.equal(await probe(), published, "a broadcast no longer crosses");
        return;
      }
      const published = await probe();
      // The hub would have forwarded the broadcast as it arrived, before the next command to worker 1.
      const seen = fromHelper(
        c.workers[0].worker as unknown as ChildProcess,
        (m) => m?.["sio-ipc"] === 1 && m.k === 3,
        "worker 0's broadcast to reach the primary",
      );
      await c.workers[0].eval(`io.emit("after-close"); return true`);
      await seen;
      t.equal(await probe(), published, "a broadcast no longer crosses");
    });
  });
}
