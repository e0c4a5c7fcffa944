/**
 * Issue 6, point 1: a helper with an Emitter SIGKILLed while its requests wait. The workers hold
 * their answers (serverSideEmit handlers and client acks keep their callbacks, one worker is busy
 * when fetchSockets arrives) and answer after the helper died: the hub drops those answers, the
 * primary has no error, the workers carry on, and a new helper's Emitter works.
 */
import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { forkAttachedHelper } from "../helpers/helper-process";
import { once, until } from "../helpers/wait";

const fixture = { adapter: { requestsTimeout: 20_000, heartbeatTimeout: 60_000 } };

for (const serialization of SERIALIZATIONS) {
  t.test(
    `a helper killed mid-request leaves the cluster working (${serialization})`,
    { timeout: 90_000 },
    async (t) => {
      const c = await startCluster(t, { workers: 2, serialization, fixture });
      const hub = c.hub!;
      const clients = await Promise.all(c.workers.map((w) => c.connect(w.index)));
      const heldAcks: (() => void)[] = [];
      for (const socket of clients)
        socket.on("ask", (callback: (a: string) => void) => heldAcks.push(() => callback("late")));
      await Promise.all(
        c.workers.map((w) =>
          w.eval(`ctx.held = []; io.of("/").on("hold", (callback) => ctx.held.push(callback)); return true`),
        ),
      );

      const helper = await forkAttachedHelper(t, hub, serialization);
      await helper.eval(`
      ctx.emitter = new Emitter({ requestsTimeout: 20000 });
      ctx.settled = [];
      ctx.emitter.serverSideEmit("hold", () => ctx.settled.push("serverSideEmit"));
      ctx.emitter.timeout(20000).emit("ask", () => ctx.settled.push("acks"));
      return true;`);
      await until(() => heldAcks.length === 2, "both clients to hold their acks", 10_000);
      await until(
        async () => (await Promise.all(c.workers.map((w) => w.eval(`return ctx.held.length`)))).every((n) => n === 1),
        "both workers to hold their serverSideEmit answers",
      );
      // Worker 1 is busy when fetchSockets arrives: it answers after the helper is gone.
      await c.workers[1].eval(
        `setImmediate(() => { const end = Date.now() + 1500; while (Date.now() < end); }); return true`,
      );
      await helper.eval(`ctx.emitter.fetchSockets().then(() => ctx.settled.push("fetchSockets")); return true`);
      t.same(await helper.eval(`return ctx.settled`), [], "every request of the helper is waiting");
      const before = hub.stats();
      t.equal(before.helpers, 1);

      await helper.kill("SIGKILL");
      await until(() => hub.stats().helpers === 0, "the hub to detach the helper");
      // The workers answer a requester that left.
      for (const release of heldAcks) release();
      await Promise.all(c.workers.map((w) => w.eval(`for (const callback of ctx.held) callback("late"); return true`)));
      // serverSideEmit answers (2), acks (2), and fetchSockets' answer from the busy worker, at least.
      await until(
        () => hub.stats().messagesDropped >= before.messagesDropped + 5,
        "the hub to drop the answers to the departed helper",
        10_000,
      );
      t.pass(`the hub dropped ${hub.stats().messagesDropped - before.messagesDropped} answers to the departed helper`);
      t.equal(hub.stats().messagesRejected, before.messagesRejected, "nothing malformed reached the hub");

      // The workers are unaffected.
      t.same(await c.serverCounts(), [2, 2], "the emitter never counted as a server");
      const hello = Promise.all(clients.map((s) => once(s, "hello")));
      await c.workers[0].eval(`io.emit("hello"); return true`);
      await hello;
      t.pass("a broadcast reaches every client");
      const ids = clients.map((s) => s.id).sort();
      t.same(await c.workers[1].eval(`return (await io.fetchSockets()).map((s) => s.id).sort()`), ids);

      // A new helper's Emitter works.
      const next = await forkAttachedHelper(t, hub, serialization);
      const result = await next.eval(`
      const emitter = new Emitter();
      const sockets = (await emitter.fetchSockets()).map((s) => s.id).sort();
      const answers = await new Promise((resolve, reject) =>
        emitter.serverSideEmit("ping-servers", (error, answers) => (error ? reject(error) : resolve(answers.sort()))),
      );
      return { sockets, answers };`);
      t.same(
        result,
        { sockets: ids, answers: ["pong from 0", "pong from 1"] },
        "a new helper's Emitter reaches both workers",
      );
    },
  );
}
