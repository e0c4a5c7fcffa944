// The election of PM2 mode and the reconnecting worker, in this process, over real Unix sockets:
// who becomes the hub, how a lost hub is replaced, when a lock is stale, when a hub steps down.
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { type GroupPaths, resolveGroupPaths } from "../../src/pm2/directory";
import { createLock, isStale, LOCK_GRACE, readLock, removeLock } from "../../src/pm2/lock";
import { SOCKET_CHECK_INTERVAL, takeLock } from "../../src/pm2/socket-hub";
import { ElectedUplink, isPm2Cluster } from "../../src/pm2/uplink";
import { envelope, Kind, type Publish } from "../../src/protocol/messages";
import type { Link } from "../../src/transports/link";
import { type PeerAdapter, WELCOME_TIMEOUT, WorkerPeer } from "../../src/worker";
import { until } from "../helpers/wait";

function group(t: { teardown(fn: () => void): void }, name = "unit"): GroupPaths {
  const home = mkdtempSync(join(tmpdir(), "sio-el-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  return resolveGroupPaths(name, { PM2_HOME: home });
}

function nextLink(uplink: ElectedUplink): Promise<Link> {
  return new Promise((resolve) => uplink.connect(resolve));
}

const closed = (link: Link) => new Promise<void>((resolve) => link.onClose(resolve));

t.test("detects PM2 cluster mode from PM2's environment", async (t) => {
  t.ok(isPm2Cluster({ pm_id: "3", exec_mode: "cluster_mode" }));
  t.notOk(isPm2Cluster({ pm_id: "3", exec_mode: "fork_mode" }), "fork mode has no cluster to join");
  t.notOk(isPm2Cluster({ exec_mode: "cluster_mode" }));
  t.notOk(isPm2Cluster({}));
});

t.test("the first to find no hub becomes it; the next connects; a lost hub is replaced", async (t) => {
  const paths = group(t);
  const first = new ElectedUplink(paths, "first");
  const second = new ElectedUplink(paths, "second");
  t.teardown(() => {
    first.close();
    second.close();
  });
  const a = await nextLink(first);
  t.ok(first.hub, "the first uplink runs the hub");
  t.equal(readFileSync(paths.lock, "utf8"), String(process.pid), "and holds the lock");
  const b = await nextLink(second);
  t.equal(second.hub, null, "the second one connects to it");
  // The hub routes between them.
  const got: unknown[] = [];
  b.onMessage((m) => got.push(m));
  a.send(envelope({ k: Kind.HELLO, uid: "a", role: "server" }));
  b.send(envelope({ k: Kind.HELLO, uid: "b", role: "server" }));
  await until(() => got.length === 1, "b's WELCOME");
  a.send(envelope<Publish>({ k: Kind.PUBLISH, d: "from a" }));
  await until(() => got.length === 2, "a's PUBLISH");
  t.match(got[1], { k: Kind.PUBLISH, d: "from a" });
  t.equal(first.hub!.stats().workers, 2);

  const lost = closed(b);
  first.close();
  await lost;
  t.notOk(existsSync(paths.socket), "a hub that closes removes its socket file");
  t.notOk(existsSync(paths.lock), "and its lock");
  const again = await nextLink(second);
  t.ok(second.hub, "the survivor elected itself");
  again.close();
});

t.test("a stale socket file is replaced; a live lock waits, a stale lock is taken", async (t) => {
  const paths = group(t);
  writeFileSync(paths.socket, ""); // not a socket at all: connecting is refused
  const fresh = createLock(paths.lock);
  t.ok(fresh, "a lock made by this process");
  t.equal(createLock(paths.lock), null, "a second one is refused");
  t.equal(takeLock(paths), null, "a live, recent lock is respected");
  t.notOk(isStale(readLock(paths.lock)!), "our own lock is not stale");
  const old = new Date(Date.now() - LOCK_GRACE - 1_000);
  utimesSync(paths.lock, old, old);
  t.ok(isStale(readLock(paths.lock)!), "an old lock whose socket refuses is stale, whoever holds it");
  t.equal(removeLock(paths.lock, -1), false, "a lock is removed only by inode");
  writeFileSync(paths.lock, "garbage");
  t.equal(readLock(paths.lock)!.pid, -1);
  t.ok(isStale(readLock(paths.lock)!), "a lock without a pid is stale");
  writeFileSync(paths.lock, "999999999");
  t.ok(isStale(readLock(paths.lock)!), "a dead pid's lock is stale");
  const uplink = new ElectedUplink(paths, "u");
  t.teardown(() => uplink.close());
  const link = await nextLink(uplink);
  t.ok(uplink.hub, "elected despite the leftovers");
  t.equal(readFileSync(paths.lock, "utf8"), String(process.pid));
  link.close();
  t.equal(readLock(join(paths.directory, "none.lock")), null);
});

t.test("a hub whose socket file is replaced steps down, and its workers find the new one", async (t) => {
  const paths = group(t);
  const uplink = new ElectedUplink(paths, "u");
  t.teardown(() => uplink.close());
  const link = await nextLink(uplink);
  const hub = uplink.hub!;
  const down = new Promise<void>((resolve) => hub.onClose(resolve));
  const lost = closed(link);
  // Another process took over (e.g. after a split): the path now leads to its socket.
  unlinkSync(paths.socket);
  const usurper = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => usurper.listen(paths.socket, resolve));
  t.teardown(() => usurper.close());
  await down;
  await lost;
  t.pass(`stepped down within ${SOCKET_CHECK_INTERVAL} ms or so`);
  t.ok(existsSync(paths.socket), "the usurper's socket file is left alone");
  t.equal(uplink.hub, null);
});

/** An adapter as WorkerPeer sees it, that records what happens to it. */
function fakeAdapter(name: string) {
  const events: string[] = [];
  const adapter: PeerAdapter = {
    nsp: { name },
    onMessage: () => events.push("message"),
    onResponse: () => events.push("response"),
    memberLeft: (uid) => events.push(`left ${uid}`),
    hubGone: (reconnecting) => events.push(`hub gone${reconnecting ? ", reconnecting" : ""}`),
    rejoin: () => events.push("rejoin"),
  };
  return { adapter, events };
}

t.test("a worker peer rejoins after the hub is lost, and gives up a hub that never answers", async (t) => {
  const paths = group(t);
  const other = new ElectedUplink(paths, "other");
  t.teardown(() => other.close());
  const otherLink = await nextLink(other); // `other` runs the hub
  const uplink = new ElectedUplink(paths, "peer");
  const peer = new WorkerPeer(uplink);
  const { adapter, events } = fakeAdapter("/");
  peer.register(adapter);
  await until(() => events.includes("rejoin"), "the first WELCOME");
  t.ok(peer.welcomed);
  const lost = new Promise<void>((resolve) => otherLink.onClose(resolve));
  other.close(); // the hub's process is gone
  await lost;
  await until(() => events.filter((e) => e === "rejoin").length === 2, "a WELCOME from the new hub");
  t.ok(events.includes("hub gone, reconnecting"), "the adapters dropped every server at once");
  t.ok(uplink.hub, "the peer's process elected itself");

  // A hub that never answers HELLO: after WELCOME_TIMEOUT the peer finds the hub again.
  const mutePaths = group(t, "mute");
  const mute = createServer(() => {});
  await new Promise<void>((resolve) => mute.listen(mutePaths.socket, resolve));
  t.teardown(() => mute.close());
  const muteUplink = new ElectedUplink(mutePaths, "mute-peer");
  let connections = 0;
  mute.on("connection", () => connections++);
  const stuck = new WorkerPeer(muteUplink);
  stuck.register(fakeAdapter("/").adapter);
  await until(() => connections >= 2, "a second connection after the welcome timeout", WELCOME_TIMEOUT * 3);
  t.notOk(stuck.welcomed);
  peer.unregister(adapter);
  t.equal(uplink.hub, null, "the last adapter closed: the peer stopped its hub");
  t.notOk(existsSync(paths.lock));
  muteUplink.close();
});
