import t from "tap";
import { closeClients, connectClients, flush, receivers, uniqueName } from "../helpers/clients";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { forkHelper } from "../helpers/emitter";
import { until, withTimeout } from "../helpers/wait";

const SUBTEST = { timeout: 30_000 };

for (const serialization of SERIALIZATIONS) {
  t.test(`helpers and hub.attach(child) (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization });
    const hub = c.hub!;

    t.test("attach is idempotent: one link, one helper, each message once", SUBTEST, async (t) => {
      const helper = await forkHelper(t, c, { serialization });
      t.equal(hub.attach(helper.child), hub, "attach returns the hub");
      t.equal(hub.attach(helper.child), hub);
      t.equal(hub.stats().helpers, 1, "counted once");
      const clients = await connectClients(c, [
        { name: "w0", worker: 0 },
        { name: "w2", worker: 2 },
      ]);
      t.teardown(() => closeClients(clients));
      const event = uniqueName("once");
      await helper.run(`ctx.emitter = new Emitter(); ctx.emitter.emit(${JSON.stringify(event)}); return true`);
      await flush(helper, clients);
      for (const client of Object.values(clients)) {
        t.equal(client.events.filter(([name]) => name === event).length, 1, `${client.name} got it once`);
      }
      const answers = await helper.run(`
        return await new Promise((resolve) =>
          ctx.emitter.serverSideEmit("ping-servers", (err, responses) => resolve(responses)));`);
      t.equal(answers.length, 3, "one answer per worker, not one per attach");
      helper.child.kill("SIGTERM");
      await helper.exited;
      await until(() => hub.stats().helpers === 0, "the helper to be detached");
      t.pass("detached when it exits");
    });

    t.test("a helper is detached when it disconnects", SUBTEST, async (t) => {
      const byParent = await forkHelper(t, c, { serialization });
      const byChild = await forkHelper(t, c, { serialization });
      t.equal(hub.stats().helpers, 2);
      byParent.child.disconnect();
      await until(() => hub.stats().helpers === 1, "the first helper to be detached");
      byChild.child.send({ test: "eval", id: -1, code: "process.disconnect()" });
      await until(() => hub.stats().helpers === 0, "the second helper to be detached");
      // With no channel and nothing else to do, both end on their own.
      t.same(await withTimeout(Promise.all([byParent.exited, byChild.exited]), 10_000, "the helpers to exit"), [0, 0]);
      const clients = await connectClients(c, [{ name: "w1", worker: 1 }]);
      t.teardown(() => closeClients(clients));
      const helper = await forkHelper(t, c, { serialization });
      await helper.run(`ctx.emitter = new Emitter(); ctx.emitter.emit("after"); return true`);
      await flush(helper, clients);
      t.same(receivers(clients, "after"), ["w1"], "a new helper works after others left");
    });

    t.test("answers that arrive after the helper exited are dropped quietly", SUBTEST, async (t) => {
      const event = uniqueName("slow");
      // Each worker keeps the acknowledgement until the test lets it go.
      await Promise.all(
        c.workers.map((w) =>
          w.eval(`ctx.slow = []; io.on(${JSON.stringify(event)}, (answer) => ctx.slow.push(answer)); return true`),
        ),
      );
      const helper = await forkHelper(t, c, { serialization });
      await helper.run(`
        ctx.emitter = new Emitter();
        ctx.emitter.serverSideEmit(${JSON.stringify(event)}, () => {});
        return true;`);
      await until(
        async () => (await Promise.all(c.workers.map((w) => w.eval("return ctx.slow.length")))).every((n) => n === 1),
        "every worker to hold an answer",
        10_000,
      );
      helper.child.kill("SIGKILL");
      await helper.exited;
      await until(() => hub.stats().helpers === 0, "the helper to be detached");
      const dropped = hub.stats().messagesDropped;
      await Promise.all(c.workers.map((w) => w.eval(`ctx.slow[0]("too late"); return true`)));
      await until(() => hub.stats().messagesDropped === dropped + 3, "the hub to drop the three answers", 10_000);
      t.pass("counted as dropped");
      t.same(await c.serverCounts(), [3, 3, 3], "the workers are unaffected");
      for (const w of c.workers) t.same(await w.eval("return ctx.warnings"), [], `no warning in worker ${w.index}`);
    });

    t.test("a helper that listens to its parent stays alive while its emitter is idle", SUBTEST, async (t) => {
      const helper = await forkHelper(t, c, { serialization });
      const count = await helper.run(`ctx.emitter = new Emitter(); return (await ctx.emitter.fetchSockets()).length`);
      t.type(count, "number");
      // Nothing may happen here, so wait a little: without its own listener, it would exit now.
      const outcome = await Promise.race([
        helper.exited.then(() => "exited"),
        new Promise((resolve) => setTimeout(() => resolve("alive"), 500)),
      ]);
      t.equal(outcome, "alive");
      t.equal(await helper.run(`return ctx.emitter.emit("still-here")`), true, "it still answers");
    });

    t.test("an idle helper exits on its own once it has nothing to do", SUBTEST, async (t) => {
      const helper = await forkHelper(t, c, { serialization });
      // Its only listener on the channel goes; the fetchSockets in flight must keep it alive.
      const count = await helper.run(`
        ctx.emitter = new Emitter();
        ctx.emitter.emit("bye");
        const pending = ctx.emitter.fetchSockets();
        ctx.idle();
        return (await pending).length;
      `);
      t.type(count, "number", "the request in flight completed");
      t.equal(await withTimeout(helper.exited, 10_000, "the helper to exit by itself"), 0, "then it exits with code 0");
      await until(() => hub.stats().helpers === 0, "the helper to be detached");
    });
  });
}
