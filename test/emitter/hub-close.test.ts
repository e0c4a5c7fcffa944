import t from "tap";
import { closeClients, connectClients, uniqueName } from "../helpers/clients";
import { SERIALIZATIONS, startCluster, usesDataSocket } from "../helpers/cluster";
import { forkHelper, primaryHost } from "../helpers/emitter";
import { until, withTimeout } from "../helpers/wait";

const HUB_GONE = "SIO_IPC_ERR_HUB_GONE";

// After hub.close(), each operation fails with HUB_GONE: emit and serverSideEmit throw, fetchSockets rejects.
const AFTER_CLOSE = `
  const codeOf = (fn) => { try { fn(); return "no error"; } catch (e) { return e.code; } };
  return {
    emit: codeOf(() => ctx.emitter.emit("hello")),
    toEmit: codeOf(() => ctx.emitter.to("room").emit("hello")),
    socketsJoin: codeOf(() => ctx.emitter.socketsJoin("room")),
    ackEmit: codeOf(() => ctx.emitter.timeout(1000).emit("hello", () => {})),
    serverSideEmit: codeOf(() => ctx.emitter.serverSideEmit("hello", () => {})),
    fetchSockets: await ctx.emitter.fetchSockets().then(() => "resolved", (e) => e.code),
  };`;

for (const serialization of SERIALIZATIONS) {
  t.test(`after hub.close(), emitters fail with ${HUB_GONE} (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 2, serialization });
    const hub = c.hub!;
    const primary = primaryHost();
    const helper = await forkHelper(t, c, { serialization });
    const event = uniqueName("held");
    // The workers hold their answer: the requests below are pending when the hub closes.
    await Promise.all(
      c.workers.map((w) => w.eval(`ctx.held = 0; io.on(${JSON.stringify(event)}, () => ctx.held++); return true`)),
    );
    // A client that never acknowledges: the emit with acks below is pending too.
    const clients = await connectClients(c, [{ name: "silent", worker: 1, rooms: [event] }]);
    t.teardown(() => closeClients(clients));
    const start = `
      ctx.emitter = new Emitter({ requestsTimeout: 20000 });
      const settled = (resolve) => (err, responses) => resolve({ err: err && err.message, responses });
      ctx.pending = Promise.all([
        new Promise((resolve) => ctx.emitter.serverSideEmit(${JSON.stringify(event)}, settled(resolve))),
        new Promise((resolve) => ctx.emitter.to(${JSON.stringify(event)}).timeout(20000).emit("ask", settled(resolve))),
      ]);
      return true;`;
    await primary.run(start);
    await helper.run(start);
    await until(
      async () => (await Promise.all(c.workers.map((w) => w.eval("return ctx.held")))).every((n) => n === 2),
      "both requests to reach both workers",
    );

    const closedAt = Date.now();
    hub.close();
    t.equal(hub.stats().helpers, 0, "no helper is attached any more");
    for (const host of [primary, helper]) {
      const settled = await withTimeout(
        host.run("return await ctx.pending"),
        5_000,
        `${host.kind}: the pending request`,
      );
      t.same(
        settled,
        [
          { err: null, responses: [] },
          { err: null, responses: [] },
        ],
        `${host.kind}: pending requests settle at once with what they have, as when the workers leave`,
      );
      await until(
        async () =>
          (await host.run(`try { ctx.emitter.emit("x"); return null; } catch (e) { return e.code; }`)) !== null,
        `${host.kind}: the emitter to learn that the hub closed`,
      );
      t.same(
        await host.run(AFTER_CLOSE),
        {
          emit: HUB_GONE,
          toEmit: HUB_GONE,
          socketsJoin: HUB_GONE,
          ackEmit: HUB_GONE,
          serverSideEmit: HUB_GONE,
          fetchSockets: HUB_GONE,
        },
        `${host.kind}: every operation fails with ${HUB_GONE}`,
      );
    }
    t.comment(`the helper's emitter knew of hub.close() ${Date.now() - closedAt} ms later (upper bound)`);
    if (usesDataSocket({ serialization })) {
      // Their data sockets closed with the hub: each worker knows at once that it is on its own.
      await until(async () => (await c.serverCounts()).join() === "1,1", "each worker to know it is alone");
      t.pass("the workers keep running, each on its own");
    } else {
      // On IPC nothing tells them: they count each other until the heartbeats time out.
      t.same(await c.serverCounts(), [2, 2], "the workers keep running");
    }
  });
}
