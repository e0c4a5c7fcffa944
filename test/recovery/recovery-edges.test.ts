import { fork } from "node:child_process";
import { join } from "node:path";
import { io as connectClient, type Socket } from "socket.io-client";
import t from "tap";
import { SERIALIZATIONS, startCluster, type TestCluster } from "../helpers/cluster";
import { collect, once, until, withTimeout } from "../helpers/wait";

const fixture = { server: { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } } };

function reconnect(c: TestCluster, workerIndex: number, session: { pid: string; offset: string }): Socket {
  const socket = connectClient(`http://127.0.0.1:${c.workers[workerIndex].port}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    autoConnect: false,
  });
  Object.assign(socket, { _pid: session.pid, _lastOffset: session.offset });
  c.clients.push(socket);
  socket.connect();
  return socket;
}

function sessionOf(socket: Socket): { pid: string; offset: string } {
  return { pid: (socket as any)._pid, offset: (socket as any)._lastOffset };
}

for (const serialization of SERIALIZATIONS) {
  t.test(`a broadcast storm during the restore: no gap, no duplicate (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 2, serialization, fixture });
    const client = await c.connect(0);
    const first = once(client, "n");
    await c.workers[1].eval(`io.emit("n", 0); return true`);
    await first;
    const before = c.hub!.stats().recoverySessions;
    client.io.engine.close();
    await until(() => c.hub!.stats().recoverySessions > before, "the session reached the hub");
    // Both workers count up while the client reconnects to worker 1: some packets are missed,
    // some arrive live, the ones in between must be neither lost nor doubled.
    const storm = c.workers.map((w, i) =>
      w.eval(
        `for (let n = 1; n <= 300; n++) { io.emit("n", ${i} * 1000 + n); if (n % 20 === 0) await new Promise((r) => setImmediate(r)); } return true`,
      ),
    );
    const back = reconnect(c, 1, sessionOf(client));
    const received: number[] = [];
    back.on("n", (n: number) => received.push(n));
    await once(back, "connect");
    t.equal(back.recovered, true);
    await Promise.all(storm);
    const done = collect(back, "done", 2);
    await Promise.all(c.workers.map((w) => w.eval(`io.emit("done"); return true`)));
    await done;
    for (const worker of [0, 1]) {
      const mine = received.filter((n) => Math.floor(n / 1000) === worker).map((n) => n % 1000);
      t.same(
        mine,
        Array.from({ length: 300 }, (_, i) => i + 1),
        `every packet of worker ${worker}, in order, once`,
      );
    }
  });

  t.test(`an unknown session or an expired offset gives a new session (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 2, serialization, fixture });
    const unknown = reconnect(c, 1, { pid: "no-such-session", offset: "no-such-offset" });
    await once(unknown, "connect");
    t.equal(unknown.recovered, false);

    const client = await c.connect(0);
    const first = once(client, "x");
    await c.workers[0].eval(`io.emit("x"); return true`);
    await first;
    const before = c.hub!.stats().recoverySessions;
    client.io.engine.close();
    await until(() => c.hub!.stats().recoverySessions > before, "the session reached the hub");
    const stale = reconnect(c, 1, { pid: sessionOf(client).pid, offset: "offset-not-in-the-log" });
    await once(stale, "connect");
    t.equal(stale.recovered, false, "an offset the log does not hold");
    t.not(stale.id, client.id, "a new socket id");
  });

  t.test(`clients that stay connected get Socket.IO's offset, never a stray argument (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 2, serialization, fixture });
    const clients = await Promise.all([c.connect(0), c.connect(1)]);
    const got = Promise.all(clients.map((s) => once(s, "hello")));
    await c.workers[0].eval(`io.emit("hello", "a", 1); return true`);
    for (const args of await got) {
      t.equal(args.length, 3, "the arguments plus one offset");
      t.same(args.slice(0, 2), ["a", 1]);
      t.ok(typeof args[2] === "string" && args[2].length > 0, "the offset is a non-empty string");
    }
    // Volatile and local broadcasts carry no offset and are not logged.
    const entries = c.hub!.stats().recoveryLogEntries;
    const volatile = Promise.all(clients.map((s) => once(s, "v")));
    await c.workers[0].eval(`io.volatile.emit("v", 1); return true`);
    for (const args of await volatile) t.same(args, [1]);
    const local = once(clients[1], "l");
    await c.workers[1].eval(`io.local.emit("l", 1); return true`);
    t.same(await local, [1]);
    t.equal(c.hub!.stats().recoveryLogEntries, entries, "nothing logged");
  });
}

t.test("recovery works for a server alone, outside any cluster", async (t) => {
  const child = fork(join(__dirname, "..", "fixtures", "standalone-recovery.js"), [], { stdio: "inherit" });
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  const [message] = await withTimeout(once(child, "message", 15_000), 15_000, "the standalone result");
  t.same(message, { recovered: true, missed: ["missed"] });
});
