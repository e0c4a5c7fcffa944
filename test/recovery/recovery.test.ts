import { io as connectClient, type Socket } from "socket.io-client";
import t from "tap";
import { SERIALIZATIONS, startCluster, type TestCluster } from "../helpers/cluster";
import { collect, once, until } from "../helpers/wait";

const fixture = { server: { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } } };

/** Connects a client that presents an old session, as a non-sticky balancer would send it anywhere. */
async function reconnect(c: TestCluster, workerIndex: number, old: Socket): Promise<Socket> {
  const socket = connectClient(`http://127.0.0.1:${c.workers[workerIndex].port}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    autoConnect: false,
  });
  // What socket.io-client's own reconnection sends: the session id and the last offset it saw.
  Object.assign(socket, { _pid: (old as any)._pid, _lastOffset: (old as any)._lastOffset });
  c.clients.push(socket);
  socket.connect();
  return socket;
}

/** Drops the connection as a network failure would ("transport close": recoverable). */
async function drop(c: TestCluster, socket: Socket, before: number): Promise<void> {
  socket.io.engine.close();
  await until(() => c.hub!.stats().recoverySessions > before, "the session reached the hub");
}

for (const serialization of SERIALIZATIONS) {
  for (const target of [0, 1]) {
    const where = target === 0 ? "the same worker" : "another worker";
    t.test(`recovers a session on ${where}, with every missed packet in order, once (${serialization})`, async (t) => {
      const c = await startCluster(t, { workers: 2, serialization, fixture });
      const client = await c.connect(0);
      await new Promise((resolve) => client.emit("join", "room1", resolve));
      await c.workers[0].eval(`for (const s of (await io.fetchSockets())) s.data = { user: "ann" }; return true`);
      const first = once(client, "tick");
      await c.workers[1].eval(`io.to("room1").emit("tick", 0); return true`);
      const [zero, offset] = await first;
      t.equal(zero, 0);
      t.type(offset, "string", "a packet carries Socket.IO's offset, a string");
      t.not(offset, "", "never an empty offset");
      const oldId = client.id;

      const sessionsBefore = c.hub!.stats().recoverySessions;
      await drop(c, client, sessionsBefore);
      // Missed while away: from both workers, to the room, to all, and some that must not arrive.
      await c.workers[0].eval(`io.to("room1").emit("tick", 1); io.emit("tick", 2); return true`);
      await c.workers[1].eval(
        `io.to("room1").emit("tick", 3); io.to("elsewhere").emit("tick", -1); io.except("room1").emit("tick", -2); io.volatile.emit("tick", -3); return true`,
      );
      await c.workers[0].eval(`io.to("room1").emit("tick", 4); return true`);

      const back = await reconnect(c, target, client);
      const received: number[] = [];
      back.on("tick", (value: number) => received.push(value));
      await once(back, "connect");
      t.equal(back.recovered, true, "socket.recovered");
      t.equal(back.id, oldId, "same socket id");
      const state = await c.workers[target].eval(
        `const s = io.of("/").sockets.get(${JSON.stringify(oldId)}); return { rooms: [...s.rooms].sort(), data: s.data }`,
      );
      t.same(state, { rooms: [oldId, "room1"].sort(), data: { user: "ann" } }, "rooms and data restored");
      t.equal(await c.workers[target].eval(`return io.of("/").sockets.get(${JSON.stringify(oldId)}).recovered`), true);
      await until(() => received.length >= 4, "the missed packets");
      await c.workers[1 - target].eval(`io.to("room1").emit("tick", 5); return true`);
      await until(() => received.includes(5), "a live packet");
      // A last round trip from both workers: anything duplicated would have arrived by then.
      const flushed = collect(back, "flush", 2);
      await Promise.all(c.workers.map((w) => w.eval(`io.emit("flush"); return true`)));
      await flushed;
      t.same(received, [1, 2, 3, 4, 5], "missed packets in order, exactly once, then live ones");
    });
  }
}
