/**
 * Issue 5: the data socket. Under node:cluster the workers move their traffic from the IPC channel
 * to a Unix socket of the hub (src/transports/data-socket.ts): the handshake keeps every envelope in
 * order across the switch, a new server in the same process starts over after the old one's BYE,
 * the socket's directory is private and removed with the hub, and a connection that is no worker
 * of ours is closed without harm to the others. `dataSocket: false` keeps everything on IPC.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import t from "tap";
import { envelope, Kind } from "../../src/protocol/messages";
import { encodeFrame, unixSocketStats } from "../../src/transports/unix-socket";
import { startCluster } from "../helpers/cluster";
import { collect, once, until } from "../helpers/wait";

// Cluster tests start real processes on a small, shared machine: more than tap's default per file.
t.setTimeout(240_000);

const UPGRADED = `return require("../../dist/worker").workerLink()?.upgraded ?? null`;

t.test("the workers move to the data socket; the hub removes it on close", async (t) => {
  const c = await startCluster(t, { workers: 3, dataSocket: true });
  const path = c.hub!.dataSocketPath;
  t.type(path, "string", "the hub listens on a socket");
  const dir = dirname(path as string);
  t.equal(statSync(dir).mode & 0o777, 0o700, "in a directory only this user may enter");
  await until(
    async () => (await Promise.all(c.workers.map((w) => w.eval(UPGRADED)))).every((u) => u === true),
    "every worker to send on the data socket",
    10_000,
  );
  t.pass("every worker sends on the data socket");

  // A broadcast and a request cross as before.
  const client = await c.connect(2);
  const got = once(client, "over-socket", 10_000);
  await c.workers[0].eval(`io.emit("over-socket", Buffer.from([1, 2, 3])); return true`);
  const [bytes] = await got;
  t.same([...new Uint8Array(bytes)], [1, 2, 3], "binary arrives as binary");
  t.equal(await c.workers[1].eval("return (await io.fetchSockets()).length"), 1, "fetchSockets answers");

  c.hub!.close();
  t.equal(c.hub!.dataSocketPath, null, "no socket after close()");
  t.throws(() => statSync(dir), { code: "ENOENT" }, "its directory is removed");
});

t.test("a hub removes the directories that dead primaries left behind, never a live one", async (t) => {
  const stale = mkdtempSync(join(tmpdir(), "sio-ipc-hub-"));
  writeFileSync(join(stale, "hub.sock"), ""); // nobody accepts a connection there
  const live = mkdtempSync(join(tmpdir(), "sio-ipc-hub-"));
  const server = createServer().listen(join(live, "hub.sock"));
  await once(server, "listening");
  const other = mkdtempSync(join(tmpdir(), "sio-ipc-hub-"));
  writeFileSync(join(other, "notes.txt"), ""); // not a hub's directory: left alone
  t.teardown(() => {
    server.close();
    for (const dir of [stale, live, other]) rmSync(dir, { recursive: true, force: true });
  });
  await startCluster(t, { workers: 1, dataSocket: true });
  await until(() => !existsSync(stale), "the stale directory to be removed");
  t.pass("the stale directory is removed");
  t.ok(existsSync(join(live, "hub.sock")), "a live hub's directory stays");
  t.ok(existsSync(join(other, "notes.txt")), "a directory with anything else stays");
});

t.test("dataSocket: false keeps every worker on IPC", async (t) => {
  const c = await startCluster(t, { workers: 2, dataSocket: false });
  t.equal(c.hub!.dataSocketPath, null, "no socket");
  t.same(await Promise.all(c.workers.map((w) => w.eval(UPGRADED))), [false, false], "both stay on IPC");
  const client = await c.connect(1);
  const got = once(client, "over-ipc", 10_000);
  await c.workers[0].eval(`io.emit("over-ipc", 1); return true`);
  t.same(await got, [1], "a broadcast crosses");
});

t.test("a new server in the same process starts over and keeps order across the switch", async (t) => {
  const c = await startCluster(t, { workers: 2, dataSocket: true });
  const client = await c.connect(1);
  const count = 300;
  const received = collect(client, "seq", count, 20_000);
  // The old server's link closes (BYE on its socket); the new one waits for that socket to close,
  // starts on IPC and moves to a socket of its own while it broadcasts, tick after tick.
  await c.workers[0].eval(`
    await io.close();
    const { Server } = require("socket.io");
    const { createAdapter } = require("../..");
    ctx.io2 = new Server(require("node:http").createServer());
    ctx.io2.adapter(createAdapter());
    for (let i = 0; i < ${count}; i++) {
      ctx.io2.emit("seq", i);
      if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    return true;
  `);
  t.same(
    await received,
    Array.from({ length: count }, (_, i) => i),
    "every broadcast arrives once, in order",
  );
  await until(async () => (await c.workers[0].eval(UPGRADED)) === true, "the new server to upgrade too");
  t.pass("the new server sends on a data socket too");
  await until(
    async () => (await c.workers[1].eval(`return io.of("/").adapter.serverCount()`)) === 2,
    "the other worker to count the new server",
  );
  t.pass("the other worker counts the new server");
  await until(
    async () => (await c.workers[0].eval(`return ctx.io2.of("/").adapter.serverCount()`)) === 2,
    "the new server to count the other",
  );
  t.pass("and the new server counts the other: messages reach it too");
});

t.test("connections that are no worker of ours are closed; the workers go on", async (t) => {
  const c = await startCluster(t, { workers: 2, dataSocket: true });
  const path = c.hub!.dataSocketPath as string;
  const stranger = async (bytes: Buffer) => {
    const socket = createConnection(path);
    socket.on("error", () => {});
    const closed = once(socket, "close", 10_000);
    socket.end(bytes);
    await closed;
  };
  const rejectedBefore = unixSocketStats().framesRejected;
  await stranger(Buffer.from("GET / HTTP/1.1\r\n\r\n"));
  t.equal(unixSocketStats().framesRejected - rejectedBefore, 1, "garbage: the connection is closed and counted");
  await stranger(encodeFrame(envelope({ k: Kind.UPGRADE, t: "not-a-token" }))!);
  t.pass("a wrong token: the connection is closed");
  await stranger(encodeFrame(envelope({ k: Kind.HELLO, uid: "intruder", role: "server" }))!);
  t.pass("anything but a token first: the connection is closed");
  t.equal(c.hub!.stats().workers, 2, "no member was added");

  const client = await c.connect(1);
  const got = once(client, "still", 10_000);
  await c.workers[0].eval(`io.emit("still", "here"); return true`);
  t.same(await got, ["here"], "the workers still talk over their own sockets");
  t.same(await c.serverCounts(), [2, 2]);
});

t.test("a worker whose data socket carries garbage is out, as if it had exited; the others go on", async (t) => {
  const c = await startCluster(t, { workers: 3, dataSocket: true });
  await until(
    async () => (await Promise.all(c.workers.map((w) => w.eval(UPGRADED)))).every((u) => u === true),
    "every worker to send on the data socket",
    10_000,
  );
  const rejectedBefore = unixSocketStats().framesRejected;
  await c.workers[2].eval(`
    require("../../dist/worker").workerLink().data.socket.write(Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5]));
    return true;
  `);
  await until(async () => (await c.serverCounts()).join() === "2,2,1", "the others to count it out, and it itself");
  t.equal(unixSocketStats().framesRejected - rejectedBefore, 1, "the bad frame is counted");
  t.equal(c.hub!.stats().workers, 2, "the hub relays for the other two");
  const client = await c.connect(1);
  const got = once(client, "after-garbage", 10_000);
  await c.workers[0].eval(`io.emit("after-garbage", 1); return true`);
  t.same(await got, [1], "the others still talk");
});

t.test("a message over 64 MiB crosses the data socket when maxMessageSize allows it", async (t) => {
  const limit = 80 * 1024 * 1024;
  const c = await startCluster(t, {
    workers: 2,
    dataSocket: true,
    primary: { maxMessageSize: limit },
    fixture: { adapter: { maxMessageSize: limit } },
  });
  const size = 65 * 1024 * 1024;
  await c.workers[0].eval(`io.serverSideEmit("ping-servers", "x".repeat(${size})); return true`, 60_000);
  const length = await c.workers[1].eval(
    `await ctx.waitFor(() => ctx.serverSideEvents.length > 0, 60_000); return ctx.serverSideEvents[0].args[0].length`,
    70_000,
  );
  t.equal(length, size, "65 MiB arrived whole");
  t.equal(c.hub!.stats().messagesTooLarge, 0, "nothing dropped as too large");
});
