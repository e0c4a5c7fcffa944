/**
 * Room utilities across workers: io.socketsJoin, io.socketsLeave and io.disconnectSockets(close),
 * with to/in/except/local, in "/" and "/chat", under both serializations. Each effect is checked
 * by a room broadcast from a THIRD worker and by fetchSockets' rooms. The hub keeps the order of
 * one worker's messages, and the test sends the next command only after the previous one returned,
 * so each check reaches every worker after the change it checks.
 */

import { io as connectClient, type Socket } from "socket.io-client";
import t from "tap";
import { type Client, FIXTURE, NAMESPACES, nspExpr, receivers, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { once, until } from "../helpers/wait";

/** Worker code: every socket of the namespace in the cluster, with its sorted rooms (its own id left out). */
const ROOMS = `const sockets = await nsp.fetchSockets();
  return Object.fromEntries(sockets.map((s) => [s.id, [...s.rooms].filter((r) => r !== s.id).sort()]));`;

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`room utilities across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      /** The rooms of each client, as fetchSockets from `worker` sees them. */
      const roomsSeenBy = async (s: Scope, worker: number) => {
        const all = await s.run<Record<string, string[]>>(worker, ROOMS);
        return s.clients.map((x) => all[x.id]);
      };
      const names = (...list: Client[]) => list.map((x) => x.name);

      await t.test(`io.socketsJoin and io.socketsLeave act on the sockets of every worker in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2, 2]);
        const [a0, b1, vip2, d2] = clients;
        await vip2.request("join", ["vip"]);

        await s.run(1, `nsp.socketsJoin("everyone"); return true`);
        await s.run(0, `nsp.in("vip").socketsJoin(["x", "y"]); nsp.except("vip").socketsJoin("z"); return true`);
        await s.run(
          2,
          `nsp.to("everyone").emit("to-everyone"); nsp.to("x").emit("to-x"); nsp.to("z").emit("to-z"); return true`,
        );
        await s.marker(2);
        t.same(receivers(clients, "to-everyone"), names(a0, b1, vip2, d2), "socketsJoin: a room broadcast reaches all");
        t.same(receivers(clients, "to-x"), names(vip2), "in(room).socketsJoin: only the room's sockets joined");
        t.same(receivers(clients, "to-z"), names(a0, b1, d2), "except(room).socketsJoin");
        t.same(
          await roomsSeenBy(s, 2),
          [
            ["everyone", "z"],
            ["everyone", "z"],
            ["everyone", "vip", "x", "y"],
            ["everyone", "z"],
          ],
          "fetchSockets shows the rooms",
        );

        await s.run(0, `nsp.socketsLeave("everyone"); nsp.in("vip").socketsLeave(["x"]); return true`);
        await s.run(1, `nsp.except("vip").socketsLeave("z"); return true`);
        await s.run(
          2,
          `nsp.to("everyone").emit("to-everyone-2"); nsp.to("x").emit("to-x-2"); nsp.to("y").emit("to-y-2");
           nsp.to("z").emit("to-z-2"); return true`,
        );
        await s.marker(2);
        t.same(receivers(clients, "to-everyone-2"), [], "socketsLeave: nobody is left in the room");
        t.same(receivers(clients, "to-x-2"), [], "in(room).socketsLeave(room)");
        t.same(receivers(clients, "to-y-2"), names(vip2), "the other rooms stay");
        t.same(receivers(clients, "to-z-2"), [], "except(room).socketsLeave");
        t.same(await roomsSeenBy(s, 1), [[], [], ["vip", "y"], []], "fetchSockets shows the rooms left");
      });

      await t.test(
        `io.local.socketsJoin, socketsLeave and disconnectSockets act on this worker's sockets only in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients = await s.connectAll([0, 1, 1, 2]);
          await s.run(1, `nsp.local.socketsJoin("here"); return true`);
          await s.run(0, `nsp.to("here").emit("to-here"); return true`);
          await s.marker(0);
          t.same(receivers(clients, "to-here"), names(clients[1], clients[2]), "only worker 1's sockets joined");
          t.same(await roomsSeenBy(s, 2), [[], ["here"], ["here"], []]);
          await s.run(1, `nsp.local.socketsLeave("here"); return true`);
          t.same(await roomsSeenBy(s, 0), [[], [], [], []], "and left");

          const gone = Promise.all([clients[1], clients[2]].map((x) => once(x.socket, "disconnect", 10_000)));
          await s.run(1, `nsp.local.disconnectSockets(); return true`);
          t.same(
            (await gone).map(([reason]) => reason),
            ["io server disconnect", "io server disconnect"],
            "local.disconnectSockets",
          );
          await s.marker(1, [clients[0], clients[3]]);
          t.ok(clients[0].socket.connected && clients[3].socket.connected, "the other workers' sockets stay connected");
        },
      );

      await t.test(
        `io.in(room).disconnectSockets() disconnects the room's sockets on every worker in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients = await s.connectAll([0, 1, 2, 1, 2]);
          const [kick0, kick1, kick2, stay1, stay2] = clients;
          await Promise.all([kick0, kick1, kick2].map((x) => x.request("join", ["kick"])));
          const reasons = Promise.all([kick0, kick1, kick2].map((x) => once(x.socket, "disconnect", 10_000)));
          await s.run(1, `nsp.in("kick").disconnectSockets(); return true`);
          t.same(
            (await reasons).map(([reason]) => reason),
            ["io server disconnect", "io server disconnect", "io server disconnect"],
            "each socket of the room, on every worker, is disconnected by the server",
          );
          await s.marker(0, [stay1, stay2]);
          t.ok(stay1.socket.connected && stay2.socket.connected, "the others stay connected");
          t.same(await roomsSeenBy(s, 2), [undefined, undefined, undefined, [], []], "fetchSockets: they are gone");

          const rest = Promise.all([stay1, stay2].map((x) => once(x.socket, "disconnect", 10_000)));
          await s.run(0, `nsp.except("nobody").disconnectSockets(false); return true`);
          t.same(
            (await rest).map(([reason]) => reason),
            ["io server disconnect", "io server disconnect"],
            "except()",
          );
        },
      );

      await t.test(
        `io.disconnectSockets(true) closes the connection, false only the namespace, in ${nsp}`,
        async (t) => {
          // Two clients, each one connection to worker 2 that carries both "/" and "/chat".
          const other = nsp === "/" ? "/chat" : "/";
          const managers: Socket[][] = [];
          t.teardown(() => {
            for (const pair of managers) for (const socket of pair) socket.disconnect();
          });
          for (let i = 0; i < 2; i++) {
            const socket = connectClient(`http://127.0.0.1:${c.workers[2].port}${nsp}`, {
              transports: ["websocket"],
              forceNew: true,
              reconnection: false,
            });
            const sibling = socket.io.socket(other);
            sibling.connect();
            managers.push([socket, sibling]);
            await Promise.all([once(socket, "connect", 10_000), once(sibling, "connect", 10_000)]);
          }
          await Promise.all(managers.map(([socket], i) => socket.timeout(10_000).emitWithAck("join", [`conn-${i}`])));
          const [[soft, softSibling], [hard, hardSibling]] = managers;

          const softReason = once(soft, "disconnect", 10_000);
          await c.workers[0].eval(`${nspExpr(nsp)}.in("conn-0").disconnectSockets(false); return true`);
          t.equal((await softReason)[0], "io server disconnect", "close = false: the namespace socket is disconnected");
          t.ok(softSibling.connected, "close = false: the connection and its other namespace stay");
          t.equal(soft.io.engine.readyState, "open");

          const hardReasons = Promise.all([once(hard, "disconnect", 10_000), once(hardSibling, "disconnect", 10_000)]);
          await c.workers[1].eval(`${nspExpr(nsp)}.in("conn-1").disconnectSockets(true); return true`);
          // Socket.IO's close = true disconnects every namespace socket of the connection, then closes it:
          // the socket in the other namespace, which nobody targeted, proves that the connection went.
          t.same(
            (await hardReasons).map(([reason]) => reason),
            ["io server disconnect", "io server disconnect"],
            "close = true: every namespace on the connection is disconnected",
          );
          await until(() => hard.io.engine.readyState === "closed", "the connection to close", 10_000);
          t.pass("and the connection is closed");
          t.ok(softSibling.connected, "another connection is untouched");
          const gone = await c.workers[2].eval(
            `const clients = io.engine.clients;
           await ctx.waitFor(() => !clients[${JSON.stringify(hard.io.engine.id)}], 10_000, "the closed connection is gone");
           return { hard: ${JSON.stringify(hard.io.engine.id)} in clients, soft: ${JSON.stringify(soft.io.engine.id)} in clients }`,
          );
          t.same(gone, { hard: false, soft: true }, "worker 2 closed that engine.io connection and kept the other");
        },
      );
    }
  });
}
