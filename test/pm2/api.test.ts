// Every worker-side API across the instances of a real, stock PM2 in cluster mode, with the worker
// code unchanged (`io.adapter(createAdapter())`): the adapter detects PM2 by itself.

import { io as connectClient, type Socket } from "socket.io-client";
import t from "tap";
import { type Instance, startPm2 } from "../helpers/pm2";
import { collect, once, until } from "../helpers/wait";

// A real PM2 daemon and its apps start slowly on a busy 2-core machine: more than tap's 60 s per file.
t.setTimeout(240_000);

t.test(
  "PM2 cluster mode, 3 instances and 2 instances of another app on one daemon",
  { timeout: 200_000 },
  async (t) => {
    const pm2 = await startPm2(t, [
      { name: "trio", instances: 3, fixture: { namespaces: ["/chat"] } },
      {
        name: "duo",
        instances: 2,
        fixture: { server: { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } } },
      },
    ]);
    const trio = await pm2.instances("trio");
    const duo = await pm2.instances("duo");
    await pm2.waitForServerCount(trio, 3);
    await pm2.waitForServerCount(duo, 2);
    await pm2.waitForServerCount(trio, 3, 10_000, "/chat");
    const ev = (i: Instance, code: string) => pm2.eval(i, code);

    t.test("detects PM2 and sees every instance: serverCount", async (t) => {
      t.same(await Promise.all(trio.map((i) => ev(i, "return io.of('/').adapter.serverCount()"))), [3, 3, 3]);
      t.same(await Promise.all(duo.map((i) => ev(i, "return io.of('/').adapter.serverCount()"))), [2, 2]);
    });

    t.test("broadcasts to every instance, with binary, and never to another app", async (t) => {
      const clients = await Promise.all(trio.map((i) => pm2.connect(i)));
      const others = await Promise.all(duo.map((i) => pm2.connect(i)));
      const strays: unknown[] = [];
      for (const other of others) other.on("hello", (text) => strays.push(text));
      const got = Promise.all(clients.map((s) => once(s, "hello", 10_000)));
      await ev(
        trio[1],
        `io.emit("hello", "world", Buffer.from([1, 2, 3]), { nested: new Uint8Array([4, 5]) }); return true`,
      );
      for (const [text, buffer, { nested }] of await got) {
        t.equal(text, "world");
        t.ok(Buffer.isBuffer(buffer), "a Buffer arrives as binary over PM2's JSON IPC");
        t.same([...buffer], [1, 2, 3]);
        t.same([...new Uint8Array(nested)], [4, 5], "nested binary arrives as binary");
      }
      // The other app's clients hear their own app's broadcast, and never trio's.
      const own = Promise.all(others.map((s) => once(s, "hello", 10_000)));
      await ev(duo[0], `io.emit("hello", "duo"); return true`);
      t.same(
        (await own).map(([text]) => text),
        ["duo", "duo"],
      );
      t.same(strays, ["duo", "duo"], "no message of trio reached duo");
      for (const s of [...clients, ...others]) s.disconnect();
    });

    t.test("rooms, except and namespaces", async (t) => {
      const [a, b, c] = await Promise.all(trio.map((i) => pm2.connect(i)));
      const chat = await pm2.connect(trio[2], "/chat");
      await Promise.all([
        a.emitWithAck("join", ["red"]),
        b.emitWithAck("join", ["red", "blue"]),
        c.emitWithAck("join", ["green"]),
      ]);
      const heard: Record<string, unknown[]> = { a: [], b: [], c: [], chat: [] };
      for (const [name, s] of Object.entries({ a, b, c, chat })) s.on("news", (x) => heard[name].push(x));
      const done = collect(chat, "news", 1, 10_000);
      await ev(
        trio[0],
        `io.to("red").emit("news", "to red");
       io.to("red").except("blue").emit("news", "red but not blue");
       io.in("green").emit("news", "to green");
       io.of("/chat").emit("news", "to chat");
       return true`,
      );
      await done;
      // Messages from one instance arrive in order: a marker sent last to everyone closes the window.
      const marker = Promise.all([a, b, c].map((s) => once(s, "marker", 10_000)));
      await ev(trio[0], `io.emit("marker"); return true`);
      await marker;
      t.same(heard.a, ["to red", "red but not blue"]);
      t.same(heard.b, ["to red"]);
      t.same(heard.c, ["to green"]);
      t.same(heard.chat, ["to chat"], "a namespace hears only its own broadcasts");
      for (const s of [a, b, c, chat]) s.disconnect();
    });

    t.test("client acknowledgements from every instance", async (t) => {
      const clients = await Promise.all(trio.map((i) => pm2.connect(i)));
      for (const [n, s] of clients.entries()) s.on("question", (callback) => callback(`answer ${n}`));
      const answers = await ev(trio[0], `return await io.timeout(5000).emitWithAck("question")`);
      t.same([...answers].sort(), ["answer 0", "answer 1", "answer 2"]);
      for (const s of clients) s.disconnect();
    });

    t.test("socketsJoin, socketsLeave and disconnectSockets reach remote sockets", async (t) => {
      const clients = await Promise.all(trio.map((i) => pm2.connect(i)));
      const target = clients[2];
      const { id } = await target.emitWithAck("whoami");
      // Asked from one instance, checked from another: the two travel on different links, with no
      // order between them, so the check waits for the effect.
      const inVip = () => ev(trio[1], `return (await io.in("vip").fetchSockets()).map((s) => s.id)`);
      await ev(trio[0], `io.in(${JSON.stringify(id)}).socketsJoin("vip"); return true`);
      await until(async () => (await inVip()).length === 1, "the remote socket to join");
      t.same(await inVip(), [id], "the remote socket joined");
      await ev(trio[1], `io.in("vip").socketsLeave("vip"); return true`);
      await until(async () => (await inVip()).length === 0, "it to leave");
      t.pass("and left");
      const gone = once(target, "disconnect", 10_000);
      await ev(trio[0], `io.in(${JSON.stringify(id)}).disconnectSockets(true); return true`);
      t.equal((await gone)[0], "io server disconnect");
      for (const s of clients) s.disconnect();
    });

    t.test("fetchSockets with RemoteSocket operations", async (t) => {
      const clients = await Promise.all(trio.map((i) => pm2.connect(i)));
      const ids = await Promise.all(clients.map(async (s) => (await s.emitWithAck("whoami")).id));
      const fetched = await ev(
        trio[0],
        `const sockets = await io.fetchSockets();
       return sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], query: s.handshake.query }))`,
      );
      t.same(fetched.map((s: { id: string }) => s.id).sort(), [...ids].sort());
      t.ok(fetched.every((s: { id: string; rooms: string[] }) => s.rooms.includes(s.id)));
      const remote = clients[1];
      const pinged = once(remote, "direct", 10_000);
      await ev(
        trio[2],
        `const [s] = await io.in(${JSON.stringify(ids[1])}).fetchSockets();
       s.emit("direct", "hi"); s.join("fetched"); return true`,
      );
      t.same(await pinged, ["hi"], "RemoteSocket.emit");
      const inFetched = () => ev(trio[0], `return (await io.in("fetched").fetchSockets()).map((s) => s.id)`);
      await until(async () => (await inFetched()).length === 1, "RemoteSocket.join to take effect");
      t.same(await inFetched(), [ids[1]], "RemoteSocket.join");
      await ev(
        trio[2],
        `const [s] = await io.in(${JSON.stringify(ids[1])}).fetchSockets(); s.leave("fetched"); return true`,
      );
      await until(async () => (await inFetched()).length === 0, "RemoteSocket.leave to take effect");
      t.pass("RemoteSocket.leave");
      const gone = once(remote, "disconnect", 10_000);
      await ev(
        trio[0],
        `const [s] = await io.in(${JSON.stringify(ids[1])}).fetchSockets(); s.disconnect(true); return true`,
      );
      await gone;
      for (const s of clients) s.disconnect();
    });

    t.test("serverSideEmit with acknowledgements", async (t) => {
      const reply = await ev(
        trio[0],
        `return await new Promise((resolve) =>
         io.serverSideEmit("ping-servers", { n: 1 }, (error, answers) => resolve({ error: error && error.message, answers })))`,
      );
      t.equal(reply.error, null);
      const pids = trio.slice(1).map((i) => `pong from ${i.pid}`);
      t.same([...reply.answers].sort(), pids.sort());
      const seen = await ev(trio[2], `return ctx.serverSideEvents.map((e) => e.args)`);
      t.same(seen, [[{ n: 1 }]]);
    });

    t.test("connection state recovery on another instance, through the elected hub", async (t) => {
      const hub = duo.find((i) => i.pid === pm2.hubPid("duo"))!;
      const sessions = () =>
        ev(hub, `return require("../../dist/worker").localHubStats().recoverySessions`) as Promise<number>;
      const client = await pm2.connect(duo[0]);
      await client.emitWithAck("join", ["room1"]);
      const first = once(client, "tick", 10_000);
      await ev(duo[1], `io.to("room1").emit("tick", 0); return true`);
      await first;
      const oldId = client.id;
      const before = await sessions();
      client.io.engine.close(); // a network failure: recoverable
      await until(async () => (await sessions()) > before, "the session to reach the hub");
      await ev(duo[0], `io.to("room1").emit("tick", 1); return true`);
      await ev(duo[1], `io.to("room1").emit("tick", 2); io.to("elsewhere").emit("tick", -1); return true`);
      // What socket.io-client's own reconnection sends, to the other instance.
      const back: Socket = connectClient(`http://127.0.0.1:${duo[1].port}`, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
        autoConnect: false,
      });
      pm2.clients.push(back);
      Object.assign(back, { _pid: (client as any)._pid, _lastOffset: (client as any)._lastOffset });
      const received: number[] = [];
      back.on("tick", (n: number) => received.push(n));
      back.connect();
      await once(back, "connect", 10_000);
      t.equal(back.recovered, true, "socket.recovered");
      t.equal(back.id, oldId, "same socket id");
      await until(() => received.length >= 2, "the missed packets");
      const flushed = Promise.all([once(back, "flush", 10_000), once(back, "flush2", 10_000)]);
      await ev(duo[0], `io.emit("flush"); return true`);
      await ev(duo[1], `io.emit("flush2"); return true`);
      await flushed;
      t.same(received, [1, 2], "the missed packets, in order, once");
    });
  },
);
