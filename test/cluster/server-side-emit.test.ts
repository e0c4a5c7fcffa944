/**
 * io.serverSideEmit across workers: it reaches io.on(ev) on every OTHER worker (never the sender,
 * as in Socket.IO), in its own namespace only; with an acknowledgement, one answer per other
 * worker; serverSideEmitWithAck. In "/" and "/chat", under both serializations. The fixture's
 * "ping-servers" handler records each event in ctx.serverSideEvents and answers "pong from <index>".
 */
import t from "tap";
import { FIXTURE, NAMESPACES, nspExpr } from "../helpers/api";
import { SERIALIZATIONS, startCluster, type TestCluster } from "../helpers/cluster";

const WORKERS = [0, 1, 2];

/** Worker code: the arguments of the "ping-servers" events of namespace `nsp` whose first argument is `tag`. */
const recorded = (nsp: string, tag: string) =>
  `return ctx.serverSideEvents.filter((e) => e.nsp === ${JSON.stringify(nsp)} && e.args[0] === ${JSON.stringify(tag)}).map((e) => e.args);`;

/** Waits until worker `worker` has `count` events of `nsp` tagged `tag`, and returns their arguments. */
function waitForEvents(c: TestCluster, worker: number, nsp: string, tag: string, count: number): Promise<any[][]> {
  return c.workers[worker].eval(
    `const matching = () => ctx.serverSideEvents.filter((e) => e.nsp === ${JSON.stringify(nsp)} && e.args[0] === ${JSON.stringify(tag)});
     await ctx.waitFor(() => matching().length >= ${count}, 10_000, "${count} ${tag} in ${nsp}");
     return matching().map((e) => e.args);`,
    15_000,
  );
}

let tags = 0;

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`serverSideEmit across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      const run = (worker: number, body: string) => c.workers[worker].eval(`const nsp = ${nspExpr(nsp)};\n${body}`);

      await t.test(`io.serverSideEmit reaches every other worker, not the sender, in ${nsp}`, async (t) => {
        for (const from of WORKERS) {
          const tag = `hello-${++tags}`;
          await run(from, `nsp.serverSideEmit("ping-servers", "${tag}", ${from}, { nested: [1, "two"] }); return true`);
          for (const other of WORKERS.filter((w) => w !== from)) {
            t.same(
              await waitForEvents(c, other, nsp, tag, 1),
              [[tag, from, { nested: [1, "two"] }]],
              `worker ${other} got it once from worker ${from}`,
            );
          }
          // A marker from another worker that reached the sender: had the hub or the adapter sent
          // the sender its own event, it would have arrived first.
          const markerFrom = (from + 1) % 3;
          const marker = `marker-${++tags}`;
          await run(markerFrom, `nsp.serverSideEmit("ping-servers", "${marker}"); return true`);
          await waitForEvents(c, from, nsp, marker, 1);
          t.same(await c.workers[from].eval(recorded(nsp, tag)), [], `worker ${from}, the sender, did not get it`);
        }
      });

      await t.test(`io.serverSideEmit with an ack gets one answer per other worker in ${nsp}`, async (t) => {
        for (const from of WORKERS) {
          const tag = `ack-${++tags}`;
          const result = await run(
            from,
            `return await new Promise((resolve) => nsp.serverSideEmit("ping-servers", "${tag}", (err, responses) =>
               resolve({ err: err ? err.message : null, responses: responses.sort() })));`,
          );
          const others = WORKERS.filter((w) => w !== from);
          t.same(
            result,
            { err: null, responses: others.map((w) => `pong from ${w}`) },
            `callback, from worker ${from}`,
          );
          for (const other of others)
            t.same(await waitForEvents(c, other, nsp, tag, 1), [[tag]], `worker ${other} ran it`);
        }
      });

      await t.test(`serverSideEmitWithAck resolves with one answer per other worker in ${nsp}`, async (t) => {
        for (const from of WORKERS) {
          const tag = `with-ack-${++tags}`;
          const responses = await run(
            from,
            `return (await nsp.serverSideEmitWithAck("ping-servers", "${tag}", { n: ${from} })).sort();`,
          );
          t.same(
            responses,
            WORKERS.filter((w) => w !== from).map((w) => `pong from ${w}`),
            `from worker ${from}`,
          );
        }
      });
    }

    await t.test("io.of(nsp).serverSideEmit stays in its namespace", async (t) => {
      const tag = `chat-only-${++tags}`;
      await c.workers[0].eval(`io.of("/chat").serverSideEmit("ping-servers", "${tag}"); return true`);
      const marker = `main-marker-${++tags}`;
      await c.workers[0].eval(`io.serverSideEmit("ping-servers", "${marker}"); return true`);
      for (const other of [1, 2]) {
        t.same(await waitForEvents(c, other, "/chat", tag, 1), [[tag]], `worker ${other}: in /chat`);
        await waitForEvents(c, other, "/", marker, 1);
        t.same(await c.workers[other].eval(recorded("/", tag)), [], `worker ${other}: not in /`);
      }
    });
  });
}
