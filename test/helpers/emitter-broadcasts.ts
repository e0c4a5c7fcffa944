/**
 * The Emitter's broadcasts and room utilities, run against a 3-worker cluster (with the namespace
 * "/admin") from any host: the primary or an attached helper. The test files call this once per
 * host and serialization.
 */

import { argsOf, closeClients, connectClients, disconnectReason, flush, receivers, uniqueName } from "./clients";
import type { TestCluster } from "./cluster";
import type { EmitterHost } from "./emitter";
import { once, until } from "./wait";

const SUBTEST = { timeout: 30_000 };

export function testBroadcasts(t: tap.Test, c: TestCluster, host: EmitterHost): void {
  t.test("emit reaches every client of the namespace on every worker and returns true", SUBTEST, async (t) => {
    const clients = await connectClients(c, [
      { name: "w0", worker: 0 },
      { name: "w1", worker: 1 },
      { name: "w2", worker: 2 },
      { name: "admin", worker: 1, nsp: "/admin" },
    ]);
    t.teardown(() => closeClients(clients));
    const returned = await host.run(`return ctx.emitter.emit("hello", "world", 42, { a: [1, null] })`);
    t.equal(returned, true, "emit returns true");
    await flush(host, clients);
    t.same(receivers(clients, "hello"), ["w0", "w1", "w2"], "not the client of /admin");
    for (const name of ["w0", "w1", "w2"]) t.same(argsOf(clients[name], "hello"), [["world", 42, { a: [1, null] }]]);
  });

  t.test("to, in and except return new operators and never mutate the previous one", SUBTEST, async (t) => {
    const [a, b, x] = [uniqueName("a"), uniqueName("b"), uniqueName("x")];
    const clients = await connectClients(c, [
      { name: "A", worker: 0, rooms: [a] },
      { name: "B", worker: 1, rooms: [b] },
      { name: "X", worker: 2, rooms: [a, x] },
      { name: "N", worker: 0 },
    ]);
    t.teardown(() => closeClients(clients));
    const distinct = await host.run(`
      const [a, b, x] = ${JSON.stringify([a, b, x])};
      const base = ctx.emitter.to(a);
      const wider = base.in(b);
      const narrower = base.except(x);
      base.emit("base");
      wider.emit("wider");
      narrower.emit("narrower");
      ctx.emitter.to([a, b]).except([x]).emit("lists");
      ctx.emitter.except(a).emit("except-a");
      ctx.emitter.in(a).to(b).emit("in-then-to");
      base.emit("base-again");
      ctx.emitter.emit("everyone");
      return [base !== wider, base !== narrower, wider !== narrower];
    `);
    t.same(distinct, [true, true, true], "each call returns a new operator");
    await flush(host, clients);
    t.same(receivers(clients, "base"), ["A", "X"]);
    t.same(receivers(clients, "wider"), ["A", "B", "X"]);
    t.same(receivers(clients, "narrower"), ["A"]);
    t.same(receivers(clients, "lists"), ["A", "B"]);
    t.same(receivers(clients, "except-a"), ["B", "N"]);
    t.same(receivers(clients, "in-then-to"), ["A", "B", "X"]);
    t.same(receivers(clients, "base-again"), ["A", "X"], "base is unchanged by the operators derived from it");
    t.same(receivers(clients, "everyone"), ["A", "B", "N", "X"], "the emitter itself is unchanged");
  });

  t.test("of(nsp) targets another namespace and keeps the options", SUBTEST, async (t) => {
    const room = uniqueName("r");
    const clients = await connectClients(c, [
      { name: "root", worker: 0, rooms: [room] },
      { name: "admin0", worker: 0, nsp: "/admin", rooms: [room] },
      { name: "admin2", worker: 2, nsp: "/admin" },
    ]);
    t.teardown(() => closeClients(clients));
    const names = await host.run(`
      const admin = ctx.emitter.of("/admin");
      admin.emit("admin-only");
      admin.to(${JSON.stringify(room)}).emit("admin-room");
      return [ctx.emitter.nsp, admin.nsp, admin.of("/").nsp];
    `);
    t.same(names, ["/", "/admin", "/"]);
    await flush(host, clients);
    t.same(receivers(clients, "admin-only"), ["admin0", "admin2"]);
    t.same(receivers(clients, "admin-room"), ["admin0"]);
  });

  t.test("volatile and compress(false) reach every worker as broadcast flags", SUBTEST, async (t) => {
    const room = uniqueName("v");
    const clients = await connectClients(c, [
      { name: "V0", worker: 0, rooms: [room] },
      { name: "V2", worker: 2, rooms: [room] },
    ]);
    t.teardown(() => closeClients(clients));
    // Socket.IO applies the flags in Adapter.prototype.broadcast: record what each worker gets there.
    const record = `
      const { Adapter } = require("socket.io-adapter");
      ctx.flags = [];
      ctx.originalBroadcast ??= Adapter.prototype.broadcast;
      Adapter.prototype.broadcast = function (packet, opts) {
        if (String(packet.data?.[0]).startsWith("flags-")) ctx.flags.push({ ev: packet.data[0], flags: opts.flags });
        return ctx.originalBroadcast.call(this, packet, opts);
      };
      return true;`;
    await Promise.all(c.workers.slice(0, 3).map((w) => w.eval(record)));
    t.teardown(() =>
      Promise.all(
        c.workers
          .slice(0, 3)
          .map((w) => w.eval(`require("socket.io-adapter").Adapter.prototype.broadcast = ctx.originalBroadcast`)),
      ),
    );
    await host.run(`
      ctx.emitter.volatile.to(${JSON.stringify(room)}).emit("flags-volatile");
      ctx.emitter.compress(false).to(${JSON.stringify(room)}).emit("flags-compress");
      ctx.emitter.volatile.compress(false).emit("flags-both");
      return true;
    `);
    await until(
      async () =>
        (await Promise.all(c.workers.slice(0, 3).map((w) => w.eval("return ctx.flags.length")))).every((n) => n === 3),
      "every worker to broadcast the three packets",
      10_000,
    );
    for (const w of c.workers.slice(0, 3)) {
      t.same(
        await w.eval("return ctx.flags"),
        [
          { ev: "flags-volatile", flags: { volatile: true } },
          { ev: "flags-compress", flags: { compress: false } },
          { ev: "flags-both", flags: { volatile: true, compress: false } },
        ],
        `worker ${w.index} got the flags`,
      );
    }
    await flush(host, clients);
    t.same(receivers(clients, "flags-compress"), ["V0", "V2"], "an uncompressed packet is delivered");
  });

  t.test("binary arguments arrive as binary at every client", SUBTEST, async (t) => {
    const clients = await connectClients(c, [
      { name: "w0", worker: 0 },
      { name: "w1", worker: 1 },
      { name: "w2", worker: 2 },
    ]);
    t.teardown(() => closeClients(clients));
    await host.run(`
      ctx.emitter.emit(
        "binary",
        Buffer.from([1, 2, 3]),
        new Uint8Array([4, 5]),
        new Uint16Array([1, 65535]),
        new Float64Array([1.5]),
        new Uint8Array([9, 8]).buffer,
        { nested: { list: ["text", Buffer.from("hi")], n: 1 } },
      );
      return true;
    `);
    await flush(host, clients);
    for (const client of Object.values(clients)) {
      const [[buffer, u8, u16, f64, arrayBuffer, nested]] = argsOf(client, "binary") as any[][];
      for (const value of [buffer, u8, u16, f64, arrayBuffer, nested.nested.list[1]]) {
        t.ok(Buffer.isBuffer(value), `${client.name}: binary arrives as a Buffer`);
      }
      t.same([...buffer], [1, 2, 3]);
      t.same([...u8], [4, 5]);
      t.same([...u16], [1, 0, 255, 255], "the bytes of the Uint16Array");
      t.same([...f64], [...Buffer.from(new Float64Array([1.5]).buffer)], "the bytes of the Float64Array");
      t.same([...arrayBuffer], [9, 8]);
      t.equal(nested.nested.list[0], "text");
      t.equal(nested.nested.list[1].toString(), "hi");
      t.equal(nested.nested.n, 1);
    }
  });

  t.test("socketsJoin and socketsLeave act on the targeted sockets of every worker", SUBTEST, async (t) => {
    const [src, dst, dst2] = [uniqueName("src"), uniqueName("dst"), uniqueName("dst2")];
    const clients = await connectClients(c, [
      { name: "S0", worker: 0, rooms: [src] },
      { name: "S2", worker: 2, rooms: [src] },
      { name: "O1", worker: 1 },
    ]);
    t.teardown(() => closeClients(clients));
    const ids = (names: string[]) => names.map((name) => clients[name].socket.id).sort();
    const fetchIds = (room: string) =>
      host.run<string[]>(
        `return (await ctx.emitter.in(${JSON.stringify(room)}).fetchSockets()).map((s) => s.id).sort()`,
      );
    await host.run(
      `ctx.emitter.in(${JSON.stringify(src)}).socketsJoin([${JSON.stringify(dst)}, ${JSON.stringify(dst2)}]); return true`,
    );
    t.same(await fetchIds(dst), ids(["S0", "S2"]), "the sockets of the source room joined, on every worker");
    t.same(
      (await c.workers[1].eval(`return (await io.in(${JSON.stringify(dst2)}).fetchSockets()).map((s) => s.id)`)).sort(),
      ids(["S0", "S2"]),
      "a worker sees the joins of the others",
    );
    await host.run(`ctx.emitter.to(${JSON.stringify(dst2)}).emit("joined"); return true`);
    await host.run(`ctx.emitter.in(${JSON.stringify(src)}).socketsLeave(${JSON.stringify(dst)}); return true`);
    t.same(await fetchIds(dst), [], "and left");
    t.same(await fetchIds(dst2), ids(["S0", "S2"]), "only the room they were told to leave");
    await host.run(`ctx.emitter.socketsJoin(${JSON.stringify(dst)}); return true`);
    const all = await fetchIds(dst);
    t.ok(
      ids(["S0", "S2", "O1"]).every((id) => all.includes(id)),
      "without a target, every socket joins",
    );
    await host.run(`ctx.emitter.socketsLeave(${JSON.stringify(dst)}); return true`);
    t.same(await fetchIds(dst), [], "without a target, every socket leaves");
    await flush(host, clients);
    t.same(receivers(clients, "joined"), ["S0", "S2"]);
  });

  t.test(
    "disconnectSockets(false) disconnects the socket, disconnectSockets(true) its connection",
    SUBTEST,
    async (t) => {
      const [soft, hard] = [uniqueName("soft"), uniqueName("hard")];
      const clients = await connectClients(c, [
        { name: "soft", worker: 0, rooms: [soft] },
        { name: "hard", worker: 2, rooms: [hard] },
        { name: "keep", worker: 1 },
      ]);
      t.teardown(() => closeClients(clients));
      // A second namespace on the same connection (io.socket() connects it) shows whether the
      // connection itself was closed.
      const siblings = {
        soft: clients.soft.socket.io.socket("/admin"),
        hard: clients.hard.socket.io.socket("/admin"),
      };
      t.teardown(() => {
        for (const sibling of Object.values(siblings)) sibling.disconnect();
      });
      await until(() => siblings.soft.connected && siblings.hard.connected, "the /admin sockets to connect", 10_000);
      const softReason = disconnectReason(clients.soft.socket);
      const hardReason = disconnectReason(clients.hard.socket);
      const hardSibling = disconnectReason(siblings.hard);
      const hardConnectionClosed = once(clients.hard.socket.io, "close", 10_000);
      await host.run(`
      ctx.emitter.in(${JSON.stringify(soft)}).disconnectSockets();
      ctx.emitter.in(${JSON.stringify(hard)}).disconnectSockets(true);
      return true;
    `);
      t.equal(await softReason, "io server disconnect");
      t.equal(await hardReason, "io server disconnect");
      await hardSibling;
      await hardConnectionClosed;
      t.pass("close = true closes the underlying connection, and with it the other namespace's socket");
      await flush(host, clients);
      t.ok(clients.keep.socket.connected, "a socket outside the rooms stays connected");
      t.ok(siblings.soft.connected, "close = false leaves the connection and its other sockets open");
      const keepReason = disconnectReason(clients.keep.socket);
      const softSibling = disconnectReason(siblings.soft);
      await host.run(`ctx.emitter.of("/admin").disconnectSockets(); return true`);
      t.equal(await softSibling, "io server disconnect", "of(nsp).disconnectSockets() targets that namespace");
      t.ok(clients.keep.socket.connected, "and only that one");
      await host.run("ctx.emitter.disconnectSockets(); return true");
      t.equal(await keepReason, "io server disconnect", "without a target, every socket is disconnected");
    },
  );

  t.test("reserved event names and unserializable arguments throw synchronously", SUBTEST, async (t) => {
    const result = await host.run(`
      const codeOf = (fn) => { try { fn(); return "no error"; } catch (error) { return error.code + ": " + error.message; } };
      const reserved = {};
      for (const name of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]) {
        reserved[name] = [codeOf(() => ctx.emitter.emit(name)), codeOf(() => ctx.emitter.to("r").emit(name))];
      }
      let called = false;
      return {
        reserved,
        serverSide: ["connection", "new_namespace", "connect"].map((name) => codeOf(() => ctx.emitter.serverSideEmit(name))),
        bigint: codeOf(() => ctx.emitter.emit("x", 10n)),
        nestedBigint: codeOf(() => ctx.emitter.to("r").emit("x", { deep: [1n] })),
        serverSideBigint: codeOf(() => ctx.emitter.serverSideEmit("x", 1n, () => (called = true))),
        ackBigint: codeOf(() => ctx.emitter.timeout(1000).emit("x", 1n, () => (called = true))),
        called: await new Promise((resolve) => setTimeout(() => resolve(called), 50)),
        badTimeout: [codeOf(() => ctx.emitter.timeout(0)), codeOf(() => ctx.emitter.to("r").timeout("1"))],
        stillWorks: ctx.emitter.emit("after-errors"),
      };
    `);
    for (const [name, errors] of Object.entries(result.reserved as Record<string, string[]>)) {
      for (const error of errors) t.equal(error, `SIO_IPC_ERR_RESERVED_EVENT: "${name}" is a reserved event name`);
    }
    for (const error of result.serverSide)
      t.match(error, /^SIO_IPC_ERR_RESERVED_EVENT: ".*" is a reserved event name$/);
    for (const key of ["bigint", "nestedBigint", "serverSideBigint", "ackBigint"]) {
      t.match(result[key], /^SIO_IPC_ERR_UNSERIALIZABLE: cannot send a BigInt/, key);
    }
    t.same(
      result.badTimeout,
      [
        "SIO_IPC_ERR_INVALID_OPTION: timeout must be a positive number of milliseconds up to 2147483647, got 0 (number)",
        'SIO_IPC_ERR_INVALID_OPTION: timeout must be a positive number of milliseconds, got "1" (string)',
      ],
      "timeout(ms) checks its argument",
    );
    t.equal(result.called, false, "no callback is called for an emit that threw");
    t.equal(result.stillWorks, true, "the emitter works after the errors");
  });
}
