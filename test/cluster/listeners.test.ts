/**
 * Issue 2 point 9: one IPC `message` listener per worker process whatever the number of namespaces
 * (the official adapter adds one per namespace and never removes it), no
 * MaxListenersExceededWarning with 20 namespaces, and closing adapters releases what they hold.
 */
import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { once, until } from "../helpers/wait";

// Cluster tests start real processes on a small, shared machine: more than tap's default per file.
t.setTimeout(240_000);

const NAMESPACES = Array.from({ length: 20 }, (_, i) => `/n${i + 1}`);

// What the adapter holds in a worker: listeners on `process` and live timers.
const LISTENERS = `
  const mine = (event) => process.listeners(event).length;
  return {
    message: process.listeners("message").filter((l) => !ctx.otherMessageListeners.includes(l)).length,
    disconnect: mine("disconnect"),
    exit: mine("exit"),
    timers: process.getActiveResourcesInfo().filter((r) => r === "Timeout").length,
    maxListenersWarnings: ctx.warnings.filter((w) => w.name === "MaxListenersExceededWarning").length,
  };
`;

interface Held {
  message: number;
  disconnect: number;
  exit: number;
  timers: number;
  maxListenersWarnings: number;
}

for (const serialization of SERIALIZATIONS) {
  t.test(`one IPC listener per worker, whatever the namespaces (${serialization})`, { timeout: 90_000 }, async (t) => {
    const c = await startCluster(t, {
      workers: 2,
      serialization,
      fixture: { namespaces: NAMESPACES, server: { cleanupEmptyChildNamespaces: true } },
    });
    const w = c.workers[0];
    const start = await w.eval<Held>(LISTENERS);
    t.equal(start.message, 1, "21 namespaces, one message listener of ours");
    t.equal(start.maxListenersWarnings, 0, "no MaxListenersExceededWarning");

    // Every namespace works across workers through that one listener.
    const clients = await Promise.all(NAMESPACES.map((nsp) => c.connect(1, nsp)));
    const got = Promise.all(clients.map((s) => once(s, "hello", 10_000)));
    await w.eval(`for (const nsp of ${JSON.stringify(NAMESPACES)}) io.of(nsp).emit("hello", nsp); return true`);
    t.same(
      (await got).map(([nsp]) => nsp),
      NAMESPACES,
      "a broadcast in each namespace reaches the other worker",
    );
    for (const socket of clients) socket.disconnect();

    // 20 dynamic child namespaces come and go (cleanupEmptyChildNamespaces closes their adapters).
    const before = await w.eval<Held>(`
      io.of(/^\\/dyn-\\d+$/).on("connection", (socket) => socket.on("ping", (cb) => cb("pong")));
      ${LISTENERS}
    `);
    const dynamic = await Promise.all(Array.from({ length: 20 }, (_, i) => c.connect(0, `/dyn-${i + 1}`)));
    const during = await w.eval<Held>(`
      ctx.dynamic = [...io._nsps.keys()].filter((name) => name.startsWith("/dyn-")).length;
      ${LISTENERS}
    `);
    t.equal(await w.eval("return ctx.dynamic"), 20, "20 child namespaces were created");
    t.equal(during.message, 1, "41 namespaces, still one message listener of ours");
    t.equal(during.maxListenersWarnings, 0, "no MaxListenersExceededWarning");
    for (const socket of dynamic) socket.disconnect();
    await until(
      async () => (await w.eval<Held>(LISTENERS)).timers <= before.timers,
      "the closed adapters' timers are released",
      10_000,
    );
    const after = await w.eval<Held>(LISTENERS);
    t.equal(await w.eval(`return [...io._nsps.keys()].filter((n) => n.startsWith("/dyn-")).length`), 0);
    t.same(
      { message: after.message, disconnect: after.disconnect, exit: after.exit },
      { message: before.message, disconnect: before.disconnect, exit: before.exit },
      "closed child namespaces leave the listeners as they were",
    );
    t.comment(`live timers: ${before.timers} before, ${during.timers} with 20 child namespaces, ${after.timers} after`);

    // io.close() closes every adapter: the last one removes our listeners from process.
    await w.eval("await io.close(); return true");
    const closed = await w.eval<Held>(LISTENERS);
    t.same(
      { message: closed.message, disconnect: closed.disconnect, exit: closed.exit },
      { message: 0, disconnect: after.disconnect - 1, exit: after.exit - 1 },
      "io.close() removes our message, disconnect and exit listeners",
    );
    t.equal(await c.workers[1].eval(`return io.of("/").adapter.serverCount()`), 1, "the other worker saw it leave");

    // A new server in the same process joins again, over one listener again.
    const reopened = await w.eval<Held>(`
      const { Server } = require("socket.io");
      const { createAdapter } = require("../..");
      ctx.io2 = new Server(require("node:http").createServer());
      ctx.io2.adapter(createAdapter());
      ${LISTENERS}
    `);
    t.equal(reopened.message, 1, "a new server adds one listener");
    await until(
      async () => (await c.workers[1].eval(`return io.of("/").adapter.serverCount()`)) === 2,
      "the other worker counts the new server",
      5_000,
    );
    const count = await w.eval("return ctx.io2.of('/').adapter.serverCount()");
    t.equal(count, 2, "the new server counts the other worker");
    const final = await Promise.all(c.workers.map((x) => x.eval<Held>(LISTENERS)));
    t.same(
      final.map((held) => held.maxListenersWarnings),
      [0, 0],
      "no MaxListenersExceededWarning in any worker",
    );
    await w.eval("await ctx.io2.close(); return true");
    t.equal((await w.eval<Held>(LISTENERS)).message, 0, "closing it removes that listener");
  });
}
