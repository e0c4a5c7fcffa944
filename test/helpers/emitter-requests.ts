/**
 * The Emitter's requests (fetchSockets, serverSideEmit with and without an answer, broadcasts with
 * client acknowledgements), run against a 3-worker cluster (with the namespace "/admin") from any
 * host: the primary or an attached helper.
 */

import { closeClients, connectClients, uniqueName } from "./clients";
import type { TestCluster } from "./cluster";
import type { EmitterHost } from "./emitter";
import { until } from "./wait";

const SUBTEST = { timeout: 30_000 };

/** Host code that emits with acks and returns what the callback got, errors as their message. */
export function ackEmit(operator: string, args: string): string {
  return `return await new Promise((resolve) =>
    ${operator}.emit(${args}, (err, responses) => resolve({ err: err && err.message, responses })));`;
}

export function testRequests(t: tap.Test, c: TestCluster, host: EmitterHost): void {
  t.test(
    "fetchSockets returns plain { id, handshake, rooms, data } objects, for rooms and except",
    SUBTEST,
    async (t) => {
      const [a, b] = [uniqueName("a"), uniqueName("b")];
      const clients = await connectClients(c, [
        { name: "F0", worker: 0, rooms: [a], auth: { name: "F0" } },
        { name: "F1", worker: 1, rooms: [a, b], auth: { name: "F1" } },
        { name: "F2", worker: 2, auth: { name: "F2" } },
      ]);
      t.teardown(() => closeClients(clients));
      await Promise.all(
        c.workers
          .slice(0, 3)
          .map((w) =>
            w.eval(
              `for (const s of io.of("/").sockets.values()) s.data = { worker: ${w.index}, tags: ["x"] }; return true`,
            ),
          ),
      );
      const id = (name: string) => clients[name].socket.id;
      const result = await host.run(`
      const [a, b] = ${JSON.stringify([a, b])};
      const all = await ctx.emitter.fetchSockets();
      const plain = all.every((s) =>
        Object.keys(s).sort().join() === "data,handshake,id,rooms" && Object.getPrototypeOf(s) === Object.prototype);
      const ids = (list) => list.map((s) => s.id).sort();
      return {
        plain,
        all,
        inA: ids(await ctx.emitter.in(a).fetchSockets()),
        inAExceptB: ids(await ctx.emitter.in(a).except(b).fetchSockets()),
        toAB: ids(await ctx.emitter.to([a, b]).fetchSockets()),
        withTimeout: ids(await ctx.emitter.in(a).timeout(10000).fetchSockets()),
        admin: ids(await ctx.emitter.of("/admin").in(a).fetchSockets()),
      };
    `);
      t.ok(result.plain, "plain objects with exactly id, handshake, rooms and data");
      for (const name of ["F0", "F1", "F2"]) {
        const socket = result.all.find((s: { id: string }) => s.id === id(name));
        t.ok(socket, `${name} is there`);
        t.same(socket.handshake.auth, { name });
        t.equal(typeof socket.handshake.headers, "object");
        t.equal(socket.data.worker, Number(name[1]));
        t.same(socket.data.tags, ["x"]);
        t.ok(socket.rooms.includes(socket.id), "a socket is in its own room");
      }
      t.same(result.all.find((s: { id: string }) => s.id === id("F1")).rooms.sort(), [id("F1"), a, b].sort());
      t.same(result.inA, [id("F0"), id("F1")].sort());
      t.same(result.inAExceptB, [id("F0")]);
      t.same(result.toAB, [id("F0"), id("F1")].sort());
      t.same(result.withTimeout, [id("F0"), id("F1")].sort());
      t.same(result.admin, [], "another namespace has its own sockets");
    },
  );

  t.test("serverSideEmit reaches io.on(ev) on every worker", SUBTEST, async (t) => {
    const token = uniqueName("token");
    const returned = await host.run(`
      return [
        ctx.emitter.serverSideEmit("ping-servers", ${JSON.stringify(token)}, 1, { b: Buffer.from([7]) }),
        ctx.emitter.of("/admin").serverSideEmit("ping-servers", ${JSON.stringify(token)}, "admin"),
      ];
    `);
    t.same(returned, [true, true]);
    const seen = (w: TestCluster["workers"][number]) =>
      w.eval(`return ctx.serverSideEvents.filter((e) => e.args[0] === ${JSON.stringify(token)})
        .map((e) => ({ nsp: e.nsp, args: e.args.slice(1).map((a) => a?.b ? Buffer.isBuffer(a.b) && a.b[0] : a) }))`);
    await until(
      async () => (await Promise.all(c.workers.slice(0, 3).map(seen))).every((events) => events.length === 2),
      "every worker to receive both events",
      10_000,
    );
    for (const w of c.workers.slice(0, 3)) {
      const events = await seen(w);
      t.same(
        events.sort((x: { nsp: string }, y: { nsp: string }) => x.nsp.localeCompare(y.nsp)),
        [
          { nsp: "/", args: [1, 7] },
          { nsp: "/admin", args: ["admin"] },
        ],
        `worker ${w.index}: once per namespace, binary as binary`,
      );
    }
  });

  t.test("serverSideEmit with a callback last collects one answer per worker", SUBTEST, async (t) => {
    const result = await host.run(`
      return await new Promise((resolve) => {
        const returned = ctx.emitter.serverSideEmit("ping-servers", "with-ack", (err, responses) =>
          resolve({ returned, err: err && err.message, responses }));
      });
    `);
    t.equal(result.err, null);
    t.same(result.responses.sort(), ["pong from 0", "pong from 1", "pong from 2"]);
    const none = await host.run(`
      return await new Promise((resolve) =>
        ctx.emitter.of("/nobody").serverSideEmit("ping-servers", (err, responses) => resolve({ err, responses })));
    `);
    t.same(none, { err: null, responses: [] }, "a namespace no worker serves answers at once, with nothing");
  });

  t.test("timeout(ms).emit collects client acks from every worker, as io.timeout().emit does", SUBTEST, async (t) => {
    const room = uniqueName("q");
    const clients = await connectClients(c, [
      { name: "Q0", worker: 0, rooms: [room] },
      { name: "Q1", worker: 1, rooms: [room] },
      { name: "Q2", worker: 2, rooms: [room] },
    ]);
    t.teardown(() => closeClients(clients));
    for (const client of Object.values(clients)) {
      client.socket.on("ask", (n: number, answer: (value: string) => void) => answer(`${client.name}:${n}`));
    }
    const r = JSON.stringify(room);
    const fromEmitter = await host.run(ackEmit(`ctx.emitter.to(${r}).timeout(10000)`, `"ask", 7`));
    const fromWorker = await c.workers[1].eval(ackEmit(`io.to(${r}).timeout(10000)`, `"ask", 7`));
    t.same(fromEmitter.err, null);
    t.same(fromEmitter.responses.sort(), ["Q0:7", "Q1:7", "Q2:7"]);
    t.same(
      { ...fromEmitter, responses: fromEmitter.responses.sort() },
      { ...fromWorker, responses: fromWorker.responses.sort() },
      "same as io.timeout().emit",
    );

    const empty = await host.run(
      ackEmit(`ctx.emitter.to(${JSON.stringify(uniqueName("empty"))}).timeout(10000)`, `"ask", 1`),
    );
    t.same(empty, { err: null, responses: [] }, "a room with no client answers at once, with nothing");

    // A client that does not acknowledge: the emit times out with the acks that did arrive.
    const silent = await connectClients(c, [{ name: "silent", worker: 2, rooms: [room] }]);
    t.teardown(() => closeClients(silent));
    const started = Date.now();
    const partial = await host.run(ackEmit(`ctx.emitter.to(${r}).timeout(500)`, `"ask", 8`));
    t.ok(Date.now() - started >= 450, "it waits for the timeout");
    const partialWorker = await c.workers[0].eval(ackEmit(`io.to(${r}).timeout(500)`, `"ask", 8`));
    t.equal(partial.err, "operation has timed out");
    t.same(partial.responses.sort(), ["Q0:8", "Q1:8", "Q2:8"]);
    t.same(
      { ...partial, responses: partial.responses.sort() },
      { ...partialWorker, responses: partialWorker.responses.sort() },
      "same as io.timeout().emit",
    );

    const withoutTimeout = await host.run(`
      try { ctx.emitter.to(${r}).emit("ask", 1, () => {}); return "no error"; } catch (error) { return { message: error.message, code: error.code }; }`);
    t.match(
      withoutTimeout,
      { message: /use emitter\.timeout\(ms\)\.emit/, code: "SIO_IPC_ERR_ACK_WITHOUT_TIMEOUT" },
      "a callback without timeout() throws, naming the fix",
    );
  });
}
