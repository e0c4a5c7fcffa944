/**
 * Broadcasts with acknowledgements across workers: io.timeout(ms).emit(ev, cb) and emitWithAck
 * collect one answer per client of every worker; a client that never answers gives Socket.IO's
 * own "operation has timed out" with the answers that did arrive. In "/" and "/chat", under both
 * serializations.
 */
import t from "tap";
import { type Client, FIXTURE, NAMESPACES, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";

/** Makes a client answer `event` with its name, the worker it is on and the argument it got. */
function answer(client: Client, event = "ask"): void {
  client.socket.on(event, (arg: unknown, callback: (response: unknown) => void) => {
    callback({ name: client.name, worker: client.worker, arg });
  });
}

/** Worker code: emits with a callback and resolves with what the callback got. */
function emitWithCallback(operator: string, event: string, arg: number): string {
  return `const result = await new Promise((resolve) =>
      ${operator}.emit(${JSON.stringify(event)}, ${arg}, (err, responses) => resolve({ err: err ? err.message : null, responses })));
    result.responses.sort((a, b) => (a.name < b.name ? -1 : 1));
    return result;`;
}

const sorted = (clients: Client[], arg: number) =>
  clients.map((c) => ({ name: c.name, worker: c.worker, arg })).sort((a, b) => (a.name < b.name ? -1 : 1));

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`acknowledgements across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      await t.test(`io.timeout(ms).emit(ev, cb) gets one answer per client of every worker in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 0, 1, 1, 2, 2]);
        for (const client of clients) answer(client);
        for (const from of [0, 1, 2]) {
          const result = await s.run(from, emitWithCallback("nsp.timeout(10000)", "ask", from));
          t.same(result, { err: null, responses: sorted(clients, from) }, `from worker ${from}`);
        }
        const local = await s.run(1, emitWithCallback("nsp.local.timeout(10000)", "ask", 9));
        t.same(
          local,
          {
            err: null,
            responses: sorted(
              clients.filter((x) => x.worker === 1),
              9,
            ),
          },
          "io.local: this worker's clients",
        );
      });

      await t.test(`emitWithAck and rooms: answers from the targeted clients only in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2, 1, 2]);
        for (const client of clients) answer(client);
        const [red0, red1, blue2, redBlue1] = clients;
        await Promise.all(
          [
            [red0, ["red"]],
            [red1, ["red"]],
            [blue2, ["blue"]],
            [redBlue1, ["red", "blue"]],
          ].map(([client, rooms]) => (client as Client).request("join", rooms)),
        );
        const run = (code: string) =>
          s.run(
            2,
            `const responses = await ${code};
             return responses.map((r) => r.name).sort();`,
          );
        const names = (...list: Client[]) => list.map((x) => x.name).sort();
        t.same(await run(`nsp.timeout(10000).emitWithAck("ask", 1)`), names(...clients), "emitWithAck to everyone");
        t.same(
          await run(`nsp.to("red").timeout(10000).emitWithAck("ask", 2)`),
          names(red0, red1, redBlue1),
          "to(room)",
        );
        t.same(
          await run(`nsp.timeout(10000).to("blue").except("red").emitWithAck("ask", 3)`),
          names(blue2),
          "to(room).except(room)",
        );
        t.same(
          await run(`nsp.except("blue").timeout(10000).emitWithAck("ask", 4)`),
          names(red0, red1, clients[4]),
          "except",
        );
        t.same(
          await run(`nsp.to("nobody").timeout(10000).emitWithAck("ask", 5)`),
          [],
          "an empty room: no answers, no error",
        );
        const callback = await s.run(0, emitWithCallback(`nsp.to("blue").timeout(10000)`, "ask", 6));
        t.same(callback, { err: null, responses: sorted([blue2, redBlue1], 6) }, "callback form with a room");
      });

      await t.test(
        `a client that never answers: "operation has timed out" with the answers that arrived in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const clients = await s.connectAll([0, 1, 2, 2]);
          const [answers0, silent1, answers2, silent2] = clients;
          answer(answers0);
          answer(answers2);
          const held: ((response: unknown) => void)[] = [];
          for (const silent of [silent1, silent2]) {
            silent.socket.on("ask", (_arg: unknown, callback: (response: unknown) => void) => held.push(callback));
          }
          // The answers of the other clients take milliseconds; the timeout leaves them two seconds.
          const result = await s.run(
            0,
            `const [callback, promise] = await Promise.all([
             new Promise((resolve) => nsp.timeout(2000).emit("ask", 1, (err, responses) =>
               resolve({ err: err ? err.message : null, responses }))),
             nsp.timeout(2000).emitWithAck("ask", 2).then(
               (responses) => ({ err: null, responses }),
               (err) => ({ err: err.message, responses: err.responses })),
           ]);
           for (const r of [callback, promise]) r.responses.sort((a, b) => (a.name < b.name ? -1 : 1));
           return { callback, promise };`,
            20_000,
          );
          t.same(
            result.callback,
            { err: "operation has timed out", responses: sorted([answers0, answers2], 1) },
            "callback",
          );
          t.same(
            result.promise,
            { err: "operation has timed out", responses: sorted([answers0, answers2], 2) },
            "emitWithAck rejects, with the partial answers on err.responses",
          );
          t.equal(held.length, 4, "the silent clients did get both events");
          for (const callback of held) callback({ late: true });
          answer(silent1, "ask-again");
          answer(silent2, "ask-again");
          answer(answers0, "ask-again");
          answer(answers2, "ask-again");
          const after = await s.run(1, emitWithCallback("nsp.timeout(10000)", "ask-again", 3));
          t.same(after, { err: null, responses: sorted(clients, 3) }, "late answers are ignored; the next emit works");
        },
      );
    }
  });
}
