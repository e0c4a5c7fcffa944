/**
 * Issue 6, point 1: a worker SIGKILLed during a broadcast storm. Every worker broadcasts numbered
 * messages to everyone and to a room; one of them is killed mid-storm. The clients of the live
 * workers must get every message of every live sender, in order, once; the victim's messages that
 * reached them must be a prefix of its sequence, in order, once. A newly forked worker then joins
 * and receives broadcasts.
 */
import type { Socket } from "socket.io-client";
import t from "tap";
import { SERIALIZATIONS, startCluster, waitForServerCount } from "../helpers/cluster";
import { collect, once, until } from "../helpers/wait";
import { checkSequence, Received, startStorm, stopStorm } from "./storm";

const fixture = { adapter: { requestsTimeout: 20_000, heartbeatTimeout: 60_000 } };
const VICTIM = 2;

async function join(socket: Socket, room: string): Promise<void> {
  await new Promise((resolve) => socket.emit("join", room, resolve));
}

for (const serialization of SERIALIZATIONS) {
  t.test(`a worker killed during a broadcast storm (${serialization})`, { timeout: 90_000 }, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture });
    // One client in room "r" on every worker, and one outside it on worker 0.
    const inRoom = await Promise.all(c.workers.map((w) => c.connect(w.index)));
    await Promise.all(inRoom.map((s) => join(s, "r")));
    const outside = await c.connect(0);
    const received = inRoom.map((s) => new Received(s));
    const outsideReceived = new Received(outside);
    const live = [0, 1];

    await Promise.all(c.workers.map((w) => startStorm(w, 2)));
    // Mid-storm: every client has messages from every sender, the victim's included.
    await until(
      () => received.every((r) => c.workers.every((w) => r.count(w.index, "all") >= 30)),
      "every client to receive 30 messages from every sender",
      30_000,
    );
    const before = live.map((i) => received[0].count(i, "all"));
    await c.kill(VICTIM);
    // The storm goes on after the kill: the hub keeps relaying.
    await until(
      () => live.every((i) => live.every((j, k) => received[j].count(i, "all") >= before[k] + 60)),
      "60 more messages from every live sender",
      30_000,
    );
    const sent = await Promise.all(live.map((i) => stopStorm(c.workers[i])));
    for (const [k, i] of live.entries()) {
      await until(
        () => live.every((j) => received[j].count(i, "all") >= sent[k].all && received[j].count(i, "r") >= sent[k].r),
        `the last messages of worker ${i}`,
        30_000,
      );
    }
    // One more round trip from each live worker: a duplicate would have arrived by then.
    const flushed = [...live.map((j) => inRoom[j]), outside].map((s) => collect(s, "flush", live.length, 10_000));
    await Promise.all(live.map((i) => c.workers[i].eval(`io.emit("flush"); return true`)));
    await Promise.all(flushed);

    let total = 0;
    for (const j of live) {
      for (const [k, i] of live.entries()) {
        for (const stream of ["all", "r"] as const) {
          const seqs = received[j].get(i, stream);
          total += seqs.length;
          t.same(
            checkSequence(seqs, sent[k][stream]),
            { missing: 0, duplicates: 0, reordered: 0 },
            `client of worker ${j}: ${sent[k][stream]} messages of worker ${i} to ${stream}, in order, once`,
          );
        }
      }
      for (const stream of ["all", "r"]) {
        const seqs = received[j].get(VICTIM, stream);
        t.same(
          checkSequence(seqs, null),
          { missing: 0, duplicates: 0, reordered: 0 },
          `client of worker ${j}: the victim's messages to ${stream} (${seqs.length}) are a prefix, in order, once`,
        );
      }
    }
    for (const i of live) {
      t.equal(outsideReceived.count(i, "r"), 0, `the client outside the room got nothing of worker ${i} to "r"`);
      t.equal(outsideReceived.count(i, "all"), sent[live.indexOf(i)].all, `and every message of worker ${i} to all`);
    }
    const victimSent = Math.max(...live.map((j) => received[j].count(VICTIM, "all")));
    t.comment(
      `${serialization}: ${total} messages from live senders checked on ${live.length} clients; the victim had sent at least ${victimSent} to all when killed; the live senders sent ${sent.map((s) => s.all).join(" and ")} to all`,
    );
    t.equal(c.hub!.stats().workers, 2, "the hub counts the live workers");

    // A newly forked worker rejoins and receives broadcasts, and its broadcasts reach the others.
    const restarted = await c.fork();
    await waitForServerCount(c, 3);
    const newcomer = await c.connect(restarted.index);
    const hello = once(newcomer, "hello");
    await c.workers[0].eval(`io.emit("hello", "from 0"); return true`);
    t.same(await hello, ["from 0"], "the restarted worker's client receives a broadcast from worker 0");
    const back = Promise.all(live.map((j) => once(inRoom[j], "hello back")));
    await restarted.eval(`io.emit("hello back", "from the restarted worker"); return true`);
    t.same(
      await back,
      live.map(() => ["from the restarted worker"]),
      "its broadcasts reach every live worker",
    );
  });
}
