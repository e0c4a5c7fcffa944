/**
 * Broadcasts across workers: io.emit, to/in/except and their chains, io.of(nsp), io.local,
 * volatile, compress(false) and socket.to(room) from a socket's handler, in "/" and "/chat", under
 * both serializations. What must NOT arrive is proven with a marker sent after it on the same path.
 */
import t from "tap";
import { type Client, FIXTURE, NAMESPACES, receivers, Scope } from "../helpers/api";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";

const WORKERS = [0, 1, 2];

/** Joins each client to its rooms (on the worker that holds it). */
async function join(entries: [Client, string[]][]): Promise<void> {
  await Promise.all(entries.map(([client, rooms]) => client.request("join", rooms)));
}

// Two clusters in a row on a slow, shared machine: more than tap's default per file.
t.setTimeout(300_000);

for (const serialization of SERIALIZATIONS) {
  t.test(`broadcasts across workers (${serialization})`, { timeout: 120_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: FIXTURE });

    for (const nsp of NAMESPACES) {
      await t.test(`io.emit from any worker reaches the clients of every worker in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 0, 1, 1, 2, 2]);
        for (const from of WORKERS) {
          await s.run(
            from,
            `nsp.emit("hello", ${from}, "text", { nested: [1, { deep: true }], n: null }); return true`,
          );
        }
        for (const client of clients) {
          const got = await client.waitFor("hello", 3);
          t.same(got.map(([from]) => from).sort(), WORKERS, `${client.name} got one hello from each worker`);
          for (const [from, ...rest] of got) {
            t.same(rest, ["text", { nested: [1, { deep: true }], n: null }], `arguments from worker ${from}`);
          }
        }
      });

      await t.test(
        `io.to(room) and io.in(room) reach the room's members on every worker, only them, in ${nsp}`,
        async (t) => {
          const s = new Scope(t, c, nsp);
          const [red0, red1, redBlue2, blue1, none2] = await s.connectAll([0, 1, 2, 1, 2]);
          await join([
            [red0, ["red"]],
            [red1, ["red"]],
            [redBlue2, ["red", "blue"]],
            [blue1, ["blue"]],
          ]);
          for (const from of WORKERS) {
            await s.run(
              from,
              `nsp.to("red").emit("to-red-${from}", ${from});
             nsp.in("blue").emit("in-blue-${from}", ${from});
             nsp.to(["red", "blue"]).emit("to-both-${from}", ${from});
             return true`,
            );
            await s.marker(from);
            const all = s.clients;
            t.same(
              receivers(all, `to-red-${from}`),
              [red0, red1, redBlue2].map((x) => x.name),
              `to("red") from ${from}`,
            );
            t.same(
              receivers(all, `in-blue-${from}`),
              [redBlue2, blue1].map((x) => x.name),
              `in("blue") from ${from}`,
            );
            t.same(
              receivers(all, `to-both-${from}`),
              [red0, red1, redBlue2, blue1].map((x) => x.name),
              `to(["red", "blue"]) from ${from}`,
            );
            t.equal(redBlue2.count(`to-both-${from}`), 1, "a member of two target rooms gets the event once");
            t.equal(none2.received.filter((r) => r.event !== "marker").length, 0, "a client in no room got nothing");
          }
        },
      );

      await t.test(`io.except(room) and chains of to/in/except select across workers in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const [red0, redGreen1, blue2, blueGreen0, none1] = await s.connectAll([0, 1, 2, 0, 1]);
        await join([
          [red0, ["red"]],
          [redGreen1, ["red", "green"]],
          [blue2, ["blue"]],
          [blueGreen0, ["blue", "green"]],
        ]);
        const ids = s.clients.map((x) => x.id);
        for (const from of WORKERS) {
          await s.run(
            from,
            `nsp.except("green").emit("except-green", ${from});
             nsp.to("red").to("blue").except("green").emit("chain", ${from});
             nsp.in("red").except(["blue", "green"]).emit("chain-in", ${from});
             nsp.except("red").except("blue").emit("except-both", ${from});
             nsp.to(${JSON.stringify(ids[2])}).emit("to-one", ${from});
             nsp.except(${JSON.stringify(ids[2])}).to("blue").emit("blue-but-one", ${from});
             return true`,
          );
          await s.marker(from);
          const names = (...list: Client[]) => list.map((x) => x.name);
          const all = s.clients;
          const only = (event: string) => receivers(all, event);
          t.same(only("except-green"), names(red0, blue2, none1), `except("green") from ${from}`);
          t.same(only("chain"), names(red0, blue2), `to("red").to("blue").except("green") from ${from}`);
          t.same(only("chain-in"), names(red0), `in("red").except(["blue", "green"]) from ${from}`);
          t.same(only("except-both"), names(none1), `except("red").except("blue") from ${from}`);
          t.same(only("to-one"), names(blue2), `to(socket id) from ${from}`);
          t.same(only("blue-but-one"), names(blueGreen0), `except(socket id).to("blue") from ${from}`);
          for (const client of all) client.received.length = 0;
        }
      });

      await t.test(`io.local reaches only the clients of the emitting worker in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2, 0, 1, 2]);
        await join(clients.map((x) => [x, ["red"]] as [Client, string[]]));
        for (const from of WORKERS) {
          await s.run(
            from,
            `nsp.local.emit("local", ${from});
             nsp.local.to("red").emit("local-red", ${from});
             return true`,
          );
          // The marker goes out after the local events, on the same path to every worker: a client
          // of another worker that has the marker would have had a local event first.
          await s.marker(from);
          const mine = clients.filter((x) => x.worker === from).map((x) => x.name);
          t.same(receivers(clients, "local"), mine, `io.local.emit from worker ${from}`);
          t.same(receivers(clients, "local-red"), mine, `io.local.to(room).emit from worker ${from}`);
          for (const client of clients) client.received.length = 0;
        }
      });

      await t.test(`volatile and compress(false) broadcasts are delivered on every worker in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2]);
        await join([[clients[2], ["red"]]]);
        // A volatile packet is dropped, by Socket.IO itself, while the client's transport is still
        // writing an earlier one: each broadcast goes out once the previous one arrived.
        await s.run(1, `nsp.volatile.emit("volatile", 1); return true`);
        for (const client of clients) t.same(await client.waitFor("volatile"), [[1]], `${client.name}: volatile`);
        await s.run(1, `nsp.compress(false).emit("uncompressed", "x".repeat(2048)); return true`);
        for (const client of clients) {
          t.same(await client.waitFor("uncompressed"), [["x".repeat(2048)]], `${client.name}: compress(false)`);
        }
        await s.run(1, `nsp.volatile.compress(false).to("red").emit("both", true); return true`);
        t.same(await clients[2].waitFor("both"), [[true]], "volatile.compress(false).to(room)");
        await s.marker(1);
        t.same(receivers(clients, "both"), [clients[2].name], "only the room got the volatile room broadcast");
      });

      await t.test(`socket.to(room) and socket.broadcast from a handler exclude the sender in ${nsp}`, async (t) => {
        const s = new Scope(t, c, nsp);
        const clients = await s.connectAll([0, 1, 2, 1, 2]);
        const [sender, red1, red2, notRed1] = clients;
        await join([
          [sender, ["red"]],
          [red1, ["red"]],
          [red2, ["red"]],
        ]);
        t.equal(
          await sender.request("relay", "red", "from-socket", [1, { a: "b" }]),
          "0",
          "the handler ran on worker 0",
        );
        t.equal(await sender.request("relay", null, "from-socket-all", ["all"]), "0");
        await s.marker(0);
        t.same(receivers(clients, "from-socket"), [red1.name, red2.name], "the room minus the sender");
        t.same(red2.args("from-socket"), [[1, { a: "b" }]]);
        t.same(
          receivers(clients, "from-socket-all"),
          [red1, red2, notRed1, clients[4]].map((x) => x.name),
          "socket.broadcast: everyone but the sender",
        );
      });
    }

    await t.test("io.of(nsp) broadcasts stay in their namespace, with the same room names", async (t) => {
      const main = new Scope(t, c, "/");
      const chat = new Scope(t, c, "/chat");
      const mainClients = await Promise.all(WORKERS.map((w) => main.connect(w)));
      const chatClients = await Promise.all(WORKERS.map((w) => chat.connect(w)));
      await join([...mainClients, ...chatClients].map((x) => [x, ["lobby"]] as [Client, string[]]));
      await c.workers[0].eval(`io.of("/chat").to("lobby").emit("chat-lobby", 1); io.of("/chat").emit("chat-all", 2);
        io.to("lobby").emit("main-lobby", 3); return true`);
      await main.marker(0);
      await chat.marker(0);
      const all = [...mainClients, ...chatClients];
      t.same(
        receivers(all, "chat-lobby"),
        chatClients.map((x) => x.name),
        "io.of('/chat').to(room)",
      );
      t.same(
        receivers(all, "chat-all"),
        chatClients.map((x) => x.name),
        "io.of('/chat').emit",
      );
      t.same(
        receivers(all, "main-lobby"),
        mainClients.map((x) => x.name),
        "io.to(room) stays in '/'",
      );
    });
  });
}
