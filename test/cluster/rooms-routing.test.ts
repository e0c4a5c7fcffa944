/**
 * The hub sends a broadcast to rooms only to the workers with a member of one of them (issue 5,
 * point 3), without losing a broadcast that follows a join: a client's join, a remote socketsJoin,
 * a join and a broadcast from two workers.
 */
import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { once } from "../helpers/wait";

for (const serialization of SERIALIZATIONS) {
  t.test(`broadcasts to rooms reach the members and skip the other workers (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization });
    const member = await c.connect(1);
    const other = await c.connect(2);
    const otherEvents: string[] = [];
    other.onAny((event) => otherEvents.push(event));
    await member.emitWithAck("join", ["r"]);

    const before = c.hub!.stats().broadcastsFiltered;
    const got = once(member, "to-r", 10_000);
    await c.workers[0].eval(`io.to("r").emit("to-r", 1); return true`);
    t.same(await got, [1], "the member got it right after its join");
    t.equal(c.hub!.stats().broadcastsFiltered - before, 1, "the worker with no member was skipped");

    // A remote join, then a broadcast to the room in the same tick: the hub counts the joined room
    // as present everywhere until each worker says what it has.
    const otherId = (await other.emitWithAck("whoami")).id;
    const joined = once(other, "to-s", 10_000);
    await c.workers[0].eval(
      `io.in(${JSON.stringify(otherId)}).socketsJoin("s"); io.to("s").emit("to-s", 2); return true`,
    );
    t.same(await joined, [2], "a broadcast right after a remote join reaches the joined socket");

    // Once worker 1 said it has no socket in "s", it is skipped again; worker 2 still gets it.
    await c.workers[1].eval(`return true`);
    const again = once(other, "to-s", 10_000);
    const filtered = c.hub!.stats().broadcastsFiltered;
    await c.workers[0].eval(`io.to("s").emit("to-s", 3); return true`);
    t.same(await again, [3]);
    t.equal(c.hub!.stats().broadcastsFiltered - filtered, 1, "worker 1 is skipped");

    // Leaving: the room's last member leaves worker 1, whose broadcasts skip it from then on.
    await member.emitWithAck("join", []);
    await c.workers[1].eval(`for (const s of io.sockets.sockets.values()) s.leave("r"); return true`);
    const left = c.hub!.stats().broadcastsFiltered;
    await c.workers[0].eval(`io.to("r").emit("to-r", 4); return true`);
    await c.workers[2].eval(`io.to("r").emit("to-r", 5); return true`);
    // A later broadcast to everyone arrives after anything sent before it: nothing else came.
    const all = once(other, "to-all", 10_000);
    await c.workers[0].eval(`io.emit("to-all"); return true`);
    await all;
    t.equal(
      c.hub!.stats().broadcastsFiltered - left,
      2 + 2,
      "no worker has r any more: each broadcast skips both others",
    );
    t.same(
      otherEvents.filter((e) => e === "to-r"),
      [],
      "the other client never got a broadcast to r",
    );
  });
}
