// Under a real PM2: leftovers of a crashed run (a stale socket file, stale locks) do not block a
// start; apps are isolated by group unless configured to share one; bad frames from a raw client
// close only that connection and are counted, and the hub's process goes on.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import t from "tap";
import { type Instance, Pm2Run } from "../helpers/pm2";
import { once, until } from "../helpers/wait";

// A real PM2 daemon and its apps start slowly on a busy 2-core machine: more than tap's 60 s per file.
t.setTimeout(240_000);

/** Leaves a real socket file with nobody behind it: a process that listens, then is SIGKILLed. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await once(child.stdout!, "data", 10_000);
  const exited = once(child, "exit", 10_000);
  child.kill("SIGKILL");
  await exited;
}

/** A pid that no process has any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit", 10_000);
  return child.pid!;
}

/** One frame: a 4-byte big-endian length, then the body. */
function frame(body: Buffer | string, length = Buffer.byteLength(body)): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return Buffer.concat([header, Buffer.from(body)]);
}

t.test("leftovers, groups and bad frames under PM2", { timeout: 200_000 }, async (t) => {
  const pm2 = new Pm2Run();
  t.teardown(() => pm2.stop());
  const dir = join(pm2.home, "sio-ipc");
  mkdirSync(dir, { mode: 0o700 });
  // "left": a socket file and a lock left by a run whose processes were all killed.
  await staleSocket(join(dir, "left.sock"));
  writeFileSync(join(dir, "left.lock"), String(await deadPid()));
  // "right": a lock whose pid is alive but unrelated (pid 1, e.g. after pid reuse), old enough.
  await staleSocket(join(dir, "right.sock"));
  writeFileSync(join(dir, "right.lock"), "1");
  const old = new Date(Date.now() - 60_000);
  utimesSync(join(dir, "right.lock"), old, old);

  await pm2.start([
    { name: "left", instances: 2 },
    { name: "right", instances: 2 },
    { name: "share-a", instances: 1, fixture: { adapter: { group: "shared" } } },
    { name: "share-b", instances: 1, fixture: { adapter: { group: "shared" } } },
    { name: "solo", instances: 1, fixture: { adapter: { pm2: false } } },
  ]);
  const left = await pm2.instances("left");
  const right = await pm2.instances("right");
  const shared = [...(await pm2.instances("share-a")), ...(await pm2.instances("share-b"))];

  t.test("a stale socket file and stale locks do not block a start", async (t) => {
    t.ok((await pm2.waitForServerCount(left, 2)) >= 0, "left: a dead pid's lock");
    t.ok((await pm2.waitForServerCount(right, 2)) >= 0, "right: an old lock of an unrelated pid");
    t.ok(
      [left, right].every((instances) =>
        instances.some((i) => i.pid === pm2.hubPid(instances === left ? "left" : "right")),
      ),
      "each group elected one of its own instances",
    );
  });

  t.test("apps with different groups never cross-talk; a shared group is one cluster", async (t) => {
    t.ok((await pm2.waitForServerCount(shared, 2)) >= 0, "share-a and share-b count 2 servers together");
    const [l, r, s] = await Promise.all([pm2.connect(left[0]), pm2.connect(right[0]), pm2.connect(shared[0])]);
    const strays: string[] = [];
    l.on("hello", (x: string) => strays.push(`left heard ${x}`));
    s.on("hello", (x: string) => strays.push(`shared heard ${x}`));
    const heard = once(r, "hello", 10_000);
    await pm2.eval(right[1], `io.emit("hello", "right"); return true`);
    t.same(await heard, ["right"]);
    const crossed = once(s, "across", 10_000);
    await pm2.eval(shared[1], `io.emit("across", "from share-b"); return true`);
    t.same(await crossed, ["from share-b"], "share-b reaches share-a");
    const marker = Promise.all([l, s].map((c) => once(c, "marker", 10_000)));
    await pm2.eval(left[1], `io.emit("marker"); return true`);
    await pm2.eval(shared[1], `io.emit("marker"); return true`);
    await marker;
    t.same(strays, [], "right's broadcast reached neither left nor the shared group");
  });

  t.test("pm2: false under PM2: the instance works alone and joins no group", async (t) => {
    const [solo] = await pm2.instances("solo");
    t.equal(await pm2.eval(solo, "return io.of('/').adapter.serverCount()"), 1);
    t.equal(await pm2.eval(solo, `return require("../../dist/worker").localHubStats()`), null);
    t.notOk(existsSync(join(dir, "solo.sock")), "no socket for it");
    const client = await pm2.connect(solo);
    const heard = once(client, "alone", 10_000);
    await pm2.eval(solo, `io.emit("alone", 1); return true`);
    t.same(await heard, [1], "local broadcasts work");
  });

  t.test("bad frames close only their connection, are counted, and the hub goes on", async (t) => {
    const hub = left.find((i) => i.pid === pm2.hubPid("left")) as Instance;
    const stats = `return require("../../dist/transports/unix-socket").unixSocketStats()`;
    const before = await pm2.eval(hub, stats);
    const envelope = (version: number) => JSON.stringify({ "sio-ipc": version, k: 1, uid: "x", role: "server" });
    const bad: [string, Buffer, boolean][] = [
      ["garbage bytes", frame("\u0000not json at all"), false],
      ["an oversized frame", frame("x", 0xffff_fff0), false],
      ["another protocol version", frame(envelope(99)), false],
      ["a JSON value that is not an envelope", frame("[1,2,3]"), false],
      ["a truncated frame", frame(envelope(1)).subarray(0, 10), true],
    ];
    for (const [what, bytes, end] of bad) {
      const socket = connect(join(dir, "left.sock"));
      await once(socket, "connect", 10_000);
      const closed = once(socket, "close", 10_000);
      socket.on("error", () => {});
      if (end) socket.end(bytes);
      else socket.write(bytes);
      await closed;
      t.pass(`${what}: the hub closed the connection`);
    }
    await until(
      async () => (await pm2.eval(hub, stats)).framesRejected === before.framesRejected + bad.length,
      "the hub to count every bad frame",
    );
    t.same(
      (await pm2.instances("left")).map((i) => i.pid).sort(),
      left.map((i) => i.pid).sort(),
      "both instances still run",
    );
    const warnings = await pm2.eval(hub, "return ctx.warnings.map((w) => w.code)");
    t.ok(warnings.includes("SIO_IPC_PROTOCOL_MISMATCH"), "the other version is reported as a process warning");
    const client = await pm2.connect(left[0]);
    const heard = once(client, "still", 10_000);
    await pm2.eval(left[1], `io.emit("still", "working"); return true`);
    t.same(await heard, ["working"], "broadcasts still cross the hub");
    t.same(await pm2.eval(hub, "return io.of('/').adapter.serverCount()"), 2);
  });
});
