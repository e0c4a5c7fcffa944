/**
 * adapter.serverCount() across workers, and a worker forked later: counted at once (heartbeats are
 * set to a minute here, so only the join itself can count it) and part of broadcasts, fetchSockets
 * and serverSideEmit at once. In "/" and "/chat", under both serializations.
 */
import t from "tap";
import { FIXTURE, NAMESPACES, receivers, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";

const SLOW_HEARTBEATS = { ...FIXTURE, adapter: { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 } };

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`serverCount and a worker forked later (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: SLOW_HEARTBEATS });

    await t.test("adapter.serverCount() is the number of workers in every namespace", async (t) => {
      for (const nsp of NAMESPACES) t.same(await c.serverCounts(nsp), [3, 3, 3], nsp);
    });

    await t.test("a worker forked later is counted at once and takes part in everything", async (t) => {
      const added = await c.fork();
      t.equal(added.index, 3);
      // The new worker's first heartbeat went to the hub before its "ready" message, and the hub
      // forwarded it before this command: no waiting. The old workers answered it before they
      // answered this command, and the hub forwarded those answers to the new worker before the next.
      for (const nsp of NAMESPACES) {
        const old = await Promise.all(
          [0, 1, 2].map((w) => c.workers[w].eval(`return io.of("${nsp}").adapter.serverCount()`)),
        );
        t.same(old, [4, 4, 4], `the old workers count it in ${nsp}`);
        t.equal(
          await added.eval(`return io.of("${nsp}").adapter.serverCount()`),
          4,
          `it counts every worker in ${nsp}`,
        );
      }

      for (const nsp of NAMESPACES) {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2, 3]);
        await s.run(0, `nsp.emit("from-old", 0); return true`);
        await s.run(3, `nsp.emit("from-new", 3); return true`);
        for (const client of clients) {
          t.same(await client.waitFor("from-old"), [[0]], `${client.name}: an old worker's broadcast`);
          t.same(await client.waitFor("from-new"), [[3]], `${client.name}: the new worker's broadcast`);
        }
        await clients[1].request("join", ["late-room"]);
        await clients[3].request("join", ["late-room"]);
        await s.run(2, `nsp.to("late-room").emit("to-late-room"); return true`);
        await s.marker(2);
        t.same(receivers(clients, "to-late-room"), [clients[1].name, clients[3].name], `room broadcast in ${nsp}`);

        const fetched = await s.run(1, `return (await nsp.fetchSockets()).map((s) => s.id).sort()`);
        t.same(fetched, clients.map((x) => x.id).sort(), `fetchSockets includes the new worker's sockets in ${nsp}`);
        const pongs = await s.run(0, `return (await nsp.serverSideEmitWithAck("ping-servers", "late")).sort()`);
        t.same(
          pongs,
          ["pong from 1", "pong from 2", "pong from 3"],
          `serverSideEmitWithAck: the new worker answers in ${nsp}`,
        );
        for (const client of clients) {
          client.socket.on("ask", (callback: (v: unknown) => void) => callback(client.worker));
        }
        const acks = await s.run(3, `return (await nsp.timeout(10000).emitWithAck("ask")).sort()`);
        t.same(acks, [0, 1, 2, 3], `broadcast with acks from the new worker: every worker's client answers in ${nsp}`);
      }
    });
  });
}
