import { MessageType } from "socket.io-adapter";
import t from "tap";
import { closeClients, connectClients, uniqueName } from "../helpers/clients";
import { SERIALIZATIONS, startCluster, type TestWorker, waitForServerCount } from "../helpers/cluster";
import { type EmitterHost, forkHelper, primaryHost } from "../helpers/emitter";
import { until, withTimeout } from "../helpers/wait";

/** The issue asks for 200 ms; the assertion leaves room for a loaded machine, the comment reports. */
const SETTLE_BOUND = 1_000;

// Records the types of the messages that emitters send to this worker, in ctx.received.
const RECORD_EMITTER_MESSAGES = `
  ctx.received = [];
  const adapter = io.of("/").adapter;
  if (!adapter.recording) {
    adapter.recording = true;
    const onMessage = adapter.onMessage.bind(adapter);
    adapter.onMessage = (message, offset) => {
      if (message.uid.startsWith("emitter")) ctx.received.push(message.type);
      return onMessage(message, offset);
    };
  }
  return true;`;

// Blocks the event loop from the next turn on: the worker can neither answer nor exit cleanly.
const HANG = "setImmediate(() => { const end = Date.now() + 60_000; while (Date.now() < end); }); return true;";

for (const serialization of SERIALIZATIONS) {
  t.test(`emitter requests when a worker hangs or exits (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization });
    const helper = await forkHelper(t, c, { serialization });

    for (const host of [primaryHost(), helper] as EmitterHost[]) {
      t.test(`from the ${host.kind}`, { timeout: 60_000 }, async (t) => {
        const live = c.workers.filter((w) => w.worker.isConnected());
        const [a, b, victim] = live.slice(-3) as TestWorker[];
        const room = uniqueName("room");
        const clients = await connectClients(c, [
          { name: `c${a.index}`, worker: a.index, rooms: [room] },
          { name: `c${b.index}`, worker: b.index, rooms: [room] },
          { name: `c${victim.index}`, worker: victim.index, rooms: [room] },
        ]);
        t.teardown(() => closeClients(clients));
        for (const client of Object.values(clients)) {
          client.socket.on("ask", (answer: (name: string) => void) => answer(client.name));
        }
        const liveIds = [clients[`c${a.index}`].socket.id, clients[`c${b.index}`].socket.id] as string[];
        const victimId = clients[`c${victim.index}`].socket.id;
        const livePongs = [`pong from ${a.index}`, `pong from ${b.index}`].sort();
        const liveAcks = [`c${a.index}`, `c${b.index}`].sort();
        await Promise.all([a, b].map((w) => w.eval(RECORD_EMITTER_MESSAGES)));
        await victim.eval(HANG);

        // Requests that wait long: only the victim's exit can complete them early.
        await host.run(`
          ctx.long = new Emitter({ requestsTimeout: 10000 });
          const settled = (promise) => promise.then(
            (value) => ({ at: Date.now(), value }),
            (error) => ({ at: Date.now(), error: error.message }));
          const callback = (resolve, reject) => (err, responses) => (err ? reject(err) : resolve(responses.sort()));
          ctx.pending = Promise.all([
            settled(ctx.long.fetchSockets().then((sockets) => sockets.map((s) => s.id))),
            settled(new Promise((resolve, reject) =>
              ctx.long.serverSideEmit("ping-servers", "waiting", callback(resolve, reject)))),
            settled(new Promise((resolve, reject) =>
              ctx.long.to(${JSON.stringify(room)}).timeout(10000).emit("ask", callback(resolve, reject)))),
          ]);
          return true;`);
        const expected = [MessageType.FETCH_SOCKETS, MessageType.SERVER_SIDE_EMIT, MessageType.BROADCAST];
        await until(
          async () =>
            (await Promise.all([a, b].map((w) => w.eval("return ctx.received")))).every((types: number[]) =>
              expected.every((type) => types.includes(type)),
            ),
          "the live workers to receive the three requests",
          10_000,
        );

        // Requests with a short timeout, while the victim hangs: partial answers, Socket.IO's wording.
        const hung = await host.run(`
          const short = new Emitter({ requestsTimeout: 500 });
          const started = Date.now();
          const failure = (error) => ({ message: error.message, ids: error.responses.map((s) => s.id), after: Date.now() - started });
          const [fetch, fetchWithTimeout, serverSide, acks] = await Promise.all([
            short.fetchSockets().then(() => "resolved", failure),
            ctx.long.timeout(300).fetchSockets().then(() => "resolved", failure),
            new Promise((resolve) => short.serverSideEmit("ping-servers", "hung", (err, responses) =>
              resolve({ message: err && err.message, responses: responses.sort(), after: Date.now() - started }))),
            new Promise((resolve) => short.to(${JSON.stringify(room)}).timeout(500).emit("ask", (err, responses) =>
              resolve({ message: err && err.message, responses: responses.sort(), after: Date.now() - started }))),
          ]);
          return { fetch, fetchWithTimeout, serverSide, acks };`);
        t.equal(
          hung.fetch.message,
          "timeout reached: missing 1 responses",
          "fetchSockets times out after requestsTimeout",
        );
        t.ok(hung.fetch.after >= 450, `after ${hung.fetch.after} ms`);
        t.equal(hung.fetchWithTimeout.message, "timeout reached: missing 1 responses", "timeout(ms) overrides it");
        t.ok(hung.fetchWithTimeout.after >= 250 && hung.fetchWithTimeout.after < hung.fetch.after + 100);
        for (const failure of [hung.fetch, hung.fetchWithTimeout]) {
          t.ok(
            liveIds.every((id) => failure.ids.includes(id)),
            "err.responses holds the sockets of the workers that answered",
          );
          t.notOk(failure.ids.includes(victimId), "and not those of the hung one");
        }
        t.same(
          { message: hung.serverSide.message, responses: hung.serverSide.responses },
          { message: "timeout reached: missing 1 responses", responses: livePongs },
          "serverSideEmit: the error and the answers that arrived",
        );
        t.same(
          { message: hung.acks.message, responses: hung.acks.responses },
          { message: "operation has timed out", responses: liveAcks },
          "timeout().emit: the error and the acks that arrived",
        );

        // The victim dies: every long request completes at once, with the live workers' answers.
        const killedAt = Date.now();
        victim.worker.process.kill("SIGKILL");
        const [fetch, serverSide, acks] = await host.run("return await ctx.pending", 15_000);
        for (const [what, result] of Object.entries({ fetch, serverSide, acks })) {
          t.equal(result.error, undefined, `${what}: no error`);
          const delay = result.at - killedAt;
          t.comment(`${host.kind} (${serialization}): ${what} settled ${delay} ms after SIGKILL`);
          t.ok(delay < SETTLE_BOUND, `${what} settled ${delay} ms after the kill (< ${SETTLE_BOUND})`);
        }
        t.ok(
          liveIds.every((id) => fetch.value.includes(id)),
          "fetchSockets: the sockets of the live workers",
        );
        t.notOk(fetch.value.includes(victimId));
        t.same(serverSide.value, livePongs, "serverSideEmit: one answer per live worker");
        t.same(acks.value, liveAcks, "timeout().emit: the acks of the live workers' clients");
        await withTimeout(victim.exited, 10_000, "the victim to exit");

        // A worker that starts now is part of the next request at once.
        const fresh = await c.fork();
        await waitForServerCount(c, 3);
        const pongs = await host.run(`
          return await new Promise((resolve) =>
            ctx.long.serverSideEmit("ping-servers", (err, responses) => resolve(responses.sort())));`);
        t.same(pongs, [...livePongs, `pong from ${fresh.index}`].sort(), "the new worker answers");
      });
    }
  });
}
