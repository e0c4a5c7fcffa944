/**
 * io.fetchSockets() across workers: the sockets of every worker with id, handshake, rooms and data;
 * filters by rooms and except; RemoteSocket emit/join/leave/disconnect acting on the worker that
 * holds the socket; io.timeout(ms).fetchSockets. In "/" and "/chat", under both serializations.
 */
import t from "tap";
import { type Client, FIXTURE, NAMESPACES, receivers, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { once } from "../helpers/wait";

/** Worker code: the ids of the sockets `operator` fetches, sorted. */
const ids = (operator: string) => `return (await ${operator}.fetchSockets()).map((s) => s.id).sort();`;
const idsOf = (...list: Client[]) => list.map((x) => x.id).sort();

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`fetchSockets across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      await t.test(
        `fetchSockets gives id, handshake, rooms and data of the sockets of every worker in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients: Client[] = [];
          for (const worker of [0, 1, 2]) {
            clients.push(
              await s.connect(worker, { query: { tag: `tag-${worker}` }, auth: { token: `token-${worker}` } }),
            );
          }
          await Promise.all(
            clients.map(async (x) => {
              await x.request("join", [`room-${x.worker}`, "all"]);
              await x.request("set-data", { worker: x.worker, nested: { list: [1, "two", null], flag: true } });
            }),
          );
          for (const from of [0, 1, 2]) {
            const sockets = await s.run(
              from,
              `const sockets = await nsp.fetchSockets();
             return sockets.map((s) => ({
               id: s.id,
               remote: s.constructor.name === "RemoteSocket",
               rooms: [...s.rooms].sort(),
               data: s.data,
               tag: s.handshake.query.tag,
               auth: s.handshake.auth,
               handshake: { url: typeof s.handshake.url, time: typeof s.handshake.time, issued: typeof s.handshake.issued,
                 address: s.handshake.address, headers: typeof s.handshake.headers.host, secure: s.handshake.secure },
             })).sort((a, b) => (a.id < b.id ? -1 : 1));`,
            );
            const expected = clients
              .map((x) => ({
                id: x.id,
                remote: x.worker !== from,
                rooms: ["all", `room-${x.worker}`, x.id].sort(),
                data: { worker: x.worker, nested: { list: [1, "two", null], flag: true } },
                tag: `tag-${x.worker}`,
                auth: { token: `token-${x.worker}` },
                handshake: {
                  url: "string",
                  time: "string",
                  issued: "number",
                  address: "127.0.0.1",
                  headers: "string",
                  secure: false,
                },
              }))
              .sort((a, b) => (a.id < b.id ? -1 : 1));
            t.same(sockets, expected, `seen from worker ${from}`);
          }
        },
      );

      await t.test(`fetchSockets with in/to/except/local selects across workers in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2, 0, 1, 2]);
        const [red0, red1, blue2, redBlue0, none1, none2] = clients;
        await Promise.all(
          [
            [red0, ["red"]],
            [red1, ["red"]],
            [blue2, ["blue"]],
            [redBlue0, ["red", "blue"]],
          ].map(([x, rooms]) => (x as Client).request("join", rooms)),
        );
        t.same(await s.run(1, ids(`nsp.in("red")`)), idsOf(red0, red1, redBlue0), "in(room)");
        t.same(await s.run(2, ids(`nsp.to(["red", "blue"])`)), idsOf(red0, red1, blue2, redBlue0), "to([rooms])");
        t.same(await s.run(0, ids(`nsp.except("red")`)), idsOf(blue2, none1, none2), "except(room)");
        t.same(await s.run(1, ids(`nsp.in("red").except("blue")`)), idsOf(red0, red1), "in(room).except(room)");
        t.same(await s.run(2, ids(`nsp.in(${JSON.stringify(none1.id)})`)), idsOf(none1), "in(socket id)");
        t.same(await s.run(0, ids(`nsp.in("nobody")`)), [], "an empty room");
        t.same(await s.run(1, ids(`nsp.local`)), idsOf(red1, none1), "local: this worker's sockets only");
        t.same(await s.run(2, ids(`nsp.timeout(10000)`)), idsOf(...clients), "io.timeout(ms).fetchSockets");
        t.same(await s.run(0, ids(`nsp.timeout(10000).in("blue")`)), idsOf(blue2, redBlue0), "timeout(ms).in(room)");
      });

      await t.test(
        `a RemoteSocket's emit, join, leave and disconnect act on the worker that holds it in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients = await s.connectAll([0, 1, 2, 2]);
          const [, other1, target, neighbour] = clients;
          target.socket.on("ask", (arg: unknown, callback: (v: unknown) => void) => callback({ answer: arg }));
          const remote = (code: string) =>
            s.run(
              0,
              `const [remote] = await nsp.in(${JSON.stringify(target.id)}).fetchSockets();
             if (remote.constructor.name !== "RemoteSocket") throw new Error("expected a RemoteSocket");
             ${code}`,
            );

          await remote(`remote.emit("direct", 1, { b: Buffer.from([1, 2]) }); return true`);
          await s.marker(0);
          t.same(receivers(clients, "direct"), [target.name], "emit reaches that one client");
          const [[one, { b }]] = target.args("direct");
          t.equal(one, 1);
          t.ok(Buffer.isBuffer(b) && b.equals(Buffer.from([1, 2])), "with its binary");

          t.same(
            await remote(`return await remote.timeout(10000).emitWithAck("ask", 42)`),
            { answer: 42 },
            "emitWithAck: one answer",
          );

          await remote(`remote.join(["joined", "also"]); return true`);
          // The join reaches worker 2 through the hub, on worker 0's channel: so does a marker sent
          // after it. Once the target has the marker, worker 2 has applied the join.
          await s.marker(0);
          const held = (room: string) =>
            c.workers[2].eval(
              `return io.of(${JSON.stringify(nsp)}).sockets.get(${JSON.stringify(target.id)}).rooms.has("${room}")`,
            );
          t.equal(await held("joined"), true, "join: the socket on worker 2 is in the room");
          await s.run(1, `nsp.to("joined").emit("to-joined"); return true`);
          await s.marker(1);
          t.same(receivers(clients, "to-joined"), [target.name], "a room broadcast from a third worker reaches it");
          t.same(await s.run(1, ids(`nsp.in("also")`)), [target.id], "fetchSockets sees the room");

          await remote(`remote.leave("joined"); return true`);
          await s.marker(0);
          t.equal(await held("joined"), false, "leave: the socket on worker 2 left");
          t.equal(await held("also"), true, "and kept its other room");

          const reason = once(target.socket, "disconnect", 10_000);
          await remote(`remote.disconnect(); return true`);
          t.equal((await reason)[0], "io server disconnect", "disconnect()");
          await s.marker(0, [other1, neighbour]);
          t.ok(neighbour.socket.connected && other1.socket.connected, "only that socket");

          const closed = once(neighbour.socket, "disconnect", 10_000);
          const sid = neighbour.socket.io.engine.id;
          await s.run(
            1,
            `const [remote] = await nsp.in(${JSON.stringify(neighbour.id)}).fetchSockets(); remote.disconnect(true); return true`,
          );
          t.equal((await closed)[0], "io server disconnect", "disconnect(true)");
          t.equal(
            await c.workers[2].eval(
              `await ctx.waitFor(() => !io.engine.clients[${JSON.stringify(sid)}]); return ${JSON.stringify(sid)} in io.engine.clients`,
            ),
            false,
            "disconnect(true) closed the connection on worker 2",
          );
        },
      );
    }

    await t.test(
      "io.timeout(ms).fetchSockets rejects with the answers that arrived when a worker is too slow",
      async (t) => {
        const main = new Scope(t, c, "/");
        const chat = new Scope(t, c, "/chat");
        const clients = [...(await main.connectAll([0, 1, 2])), ...(await chat.connectAll([0, 1, 2]))];
        // Worker 2 runs this first, then the requests the hub forwards to it: it answers 2.5 s late.
        const blocked = c.workers[2].eval(`const end = Date.now() + 2500; while (Date.now() < end); return true`);
        const fetch = (nsp: string) =>
          `${nsp === "/" ? "io" : `io.of("${nsp}")`}.timeout(800).fetchSockets().then(
           () => ({ err: null }), (err) => ({ err: err.message, ids: err.responses.map((s) => s.id).sort() }))`;
        const result = await c.workers[0].eval(`return await Promise.all([${fetch("/")}, ${fetch("/chat")}])`);
        await blocked;
        const live = (nsp: string) => idsOf(...clients.filter((x) => x.name.startsWith(`${nsp} `) && x.worker !== 2));
        t.same(result, [
          { err: "timeout reached: missing 1 responses", ids: live("/") },
          { err: "timeout reached: missing 1 responses", ids: live("/chat") },
        ]);
        t.same(
          await c.workers[0].eval(ids("io")),
          idsOf(...clients.slice(0, 3)),
          "the late answer is ignored; the next one works",
        );
      },
    );
  });
}
