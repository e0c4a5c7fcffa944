/**
 * The adapter events create-room, delete-room, join-room and leave-room fire on the worker that
 * holds the socket, whichever worker asked for the change (socketsJoin/socketsLeave, a RemoteSocket,
 * a disconnect), and on no other. In "/" and "/chat", under both serializations. The fixture records
 * them in ctx.adapterEvents as { nsp, event, room, id }.
 */
import t from "tap";
import { FIXTURE, NAMESPACES, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster, type TestCluster } from "../helpers/cluster";

const WORKERS = [0, 1, 2];
let barriers = 0;

/**
 * Sends a server-side event from worker `from` and waits until every other worker ran it: they
 * have then handled everything `from` published before.
 */
async function barrier(c: TestCluster, nsp: string, from: number): Promise<void> {
  const tag = `barrier-${++barriers}`;
  await c.workers[from].eval(`io.of(${JSON.stringify(nsp)}).serverSideEmit("ping-servers", "${tag}"); return true`);
  await Promise.all(
    WORKERS.filter((w) => w !== from).map((w) =>
      c.workers[w].eval(
        `await ctx.waitFor(() => ctx.serverSideEvents.some((e) => e.args[0] === "${tag}"), 10_000, "${tag}"); return true`,
        15_000,
      ),
    ),
  );
}

/** The adapter events of each worker in `nsp` that concern one of `names` (rooms or socket ids), in order. */
async function eventsAbout(c: TestCluster, nsp: string, names: string[]): Promise<string[][]> {
  return Promise.all(
    WORKERS.map((w) =>
      c.workers[w].eval(
        `const names = ${JSON.stringify(names)};
         return ctx.adapterEvents
           .filter((e) => e.nsp === ${JSON.stringify(nsp)} && (names.includes(e.room) || names.includes(e.id)))
           .map((e) => [e.event, e.room, e.id].filter((x) => x !== undefined).join(" "));`,
      ),
    ),
  );
}

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`adapter events across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      await t.test(
        `room events fire on the worker that holds the socket, for changes asked anywhere, in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          // a1 before b1: socketsLeave() without a room filter walks the sockets in connection
          // order, and the expected leave-room events follow the join order.
          const a1 = await s.connect(1);
          const [b1, c2] = await s.connectAll([1, 2]);
          const room = `events-${nsp.length}-${serialization}`;

          t.same(
            await eventsAbout(c, nsp, [a1.id]),
            [[], [`create-room ${a1.id}`, `join-room ${a1.id} ${a1.id}`], []],
            "a connection: its own room is created and joined on its worker",
          );

          await s.run(0, `nsp.in(${JSON.stringify(a1.id)}).socketsJoin(${JSON.stringify(room)}); return true`);
          await barrier(c, nsp, 0);
          t.same(
            await eventsAbout(c, nsp, [room]),
            [[], [`create-room ${room}`, `join-room ${room} ${a1.id}`], []],
            "socketsJoin from worker 0: create-room and join-room on worker 1 only",
          );

          await b1.request("join", [room]);
          await s.run(2, `nsp.in(${JSON.stringify(c2.id)}).socketsJoin(${JSON.stringify(room)}); return true`);
          await s.run(2, `nsp.socketsLeave(${JSON.stringify(room)}); return true`);
          await barrier(c, nsp, 2);
          t.same(
            await eventsAbout(c, nsp, [room]),
            [
              [],
              [
                `create-room ${room}`,
                `join-room ${room} ${a1.id}`,
                `join-room ${room} ${b1.id}`,
                `leave-room ${room} ${a1.id}`,
                `leave-room ${room} ${b1.id}`,
                `delete-room ${room}`,
              ],
              [
                `create-room ${room}`,
                `join-room ${room} ${c2.id}`,
                `leave-room ${room} ${c2.id}`,
                `delete-room ${room}`,
              ],
            ],
            "a second join does not create the room again; socketsLeave from worker 2 empties and deletes it on each worker",
          );
        },
      );

      await t.test(
        `a RemoteSocket's join, leave and disconnect fire the events on its own worker in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const [target] = await s.connectAll([0]);
          const id = target.id; // the client forgets it once disconnected
          const room = `remote-${nsp.length}-${serialization}`;
          const remote = (code: string) =>
            s.run(2, `const [remote] = await nsp.in(${JSON.stringify(id)}).fetchSockets(); ${code}; return true`);

          await remote(`remote.join(${JSON.stringify(room)})`);
          await remote(`remote.leave(${JSON.stringify(room)})`);
          await remote(`remote.join(${JSON.stringify(room)})`);
          await remote(`remote.disconnect()`);
          await barrier(c, nsp, 2);
          t.same(
            await eventsAbout(c, nsp, [room, id]),
            [
              [
                `create-room ${id}`,
                `join-room ${id} ${id}`,
                `create-room ${room}`,
                `join-room ${room} ${id}`,
                `leave-room ${room} ${id}`,
                `delete-room ${room}`,
                `create-room ${room}`,
                `join-room ${room} ${id}`,
                `leave-room ${id} ${id}`,
                `delete-room ${id}`,
                `leave-room ${room} ${id}`,
                `delete-room ${room}`,
              ],
              [],
              [],
            ],
            "every event on worker 0, none on workers 1 and 2",
          );
        },
      );
    }
  });
}
