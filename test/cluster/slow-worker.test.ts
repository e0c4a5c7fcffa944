/**
 * A worker that stops reading (SIGSTOP: its IPC channel fills up) while another broadcasts more than
 * the hub's per-link cap: the fast worker gets every message in order, the hub's memory toward the
 * stopped one is bounded, what does not fit is dropped and counted, and once the worker resumes it
 * gets what was kept, in order, without a duplicate, and then every new message (issue 5, point 6).
 */
import t from "tap";
import { flowStats } from "../../src/hub/flow";
import { MAX_QUEUED_BYTES } from "../../src/transports/ipc";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { collect, until } from "../helpers/wait";

const PAYLOAD = 16 * 1024;
const PER_ROUND = 200;
// 1.5 times the cap in all: some must be dropped toward the stopped worker, none toward the others.
const ROUNDS = Math.ceil((1.5 * MAX_QUEUED_BYTES) / (PAYLOAD * PER_ROUND));

// The hub runs in this process: its overflow warning comes here, once for the whole process.
const warnings: string[] = [];
process.on("warning", (warning: Error & { code?: string }) => warnings.push(String(warning.code)));

for (const serialization of SERIALIZATIONS) {
  t.test(`a stopped worker costs the hub at most the cap, and gets the rest in order (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization });
    const fast = await c.connect(1);
    const slow = await c.connect(2);
    const slowSeqs: number[] = [];
    slow.on("seq", (seq: number) => slowSeqs.push(seq));

    const stopped = c.workers[2].worker.process;
    stopped.kill("SIGSTOP");
    t.teardown(() => stopped.kill("SIGCONT"));
    const total = ROUNDS * PER_ROUND;
    for (let round = 0; round < ROUNDS; round++) {
      const got = collect(fast, "seq", PER_ROUND, 30_000);
      await c.workers[0].eval(
        `const payload = "x".repeat(${PAYLOAD});
         for (let i = 0; i < ${PER_ROUND}; i++) io.emit("seq", ${round * PER_ROUND} + i, payload);
         return true`,
      );
      // The fast worker keeps up: each round arrives whole, in order, before the next is sent.
      const seqs = (await got).map((args: unknown[]) => args[0]);
      t.same(
        seqs,
        Array.from({ length: PER_ROUND }, (_, i) => round * PER_ROUND + i),
        `round ${round} in order`,
      );
    }
    const stats = c.hub!.stats();
    t.ok(stats.messagesOverflowed > 0, `what did not fit was dropped and counted (${stats.messagesOverflowed})`);
    t.ok(stats.messagesOverflowed < total, "not everything");
    t.same(
      warnings.filter((code) => code === "SIO_IPC_QUEUE_OVERFLOW"),
      ["SIO_IPC_QUEUE_OVERFLOW"],
      "one warning in the process that holds the hub",
    );

    stopped.kill("SIGCONT");
    // Once the hub has written everything it kept for the resumed worker, a new message goes through.
    await until(() => c.hub!.stats().messagesQueued === 0, "the hub to write what it kept", 60_000);
    const marker = new Promise<void>((resolve) => slow.on("seq", (seq: number) => seq === total && resolve()));
    await c.workers[0].eval(`io.emit("seq", ${total}, "after"); return true`);
    await until(() => slowSeqs.at(-1) === total, "the resumed worker's client to get the new message", 60_000);
    await marker;
    const kept = slowSeqs.slice(0, -1);
    t.ok(
      slowSeqs.every((seq, i) => i === 0 || seq > slowSeqs[i - 1]),
      "what arrived came in the order it was sent, without a duplicate",
    );
    t.same(kept.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "the oldest were kept, the newest dropped");
    t.ok(kept.length < total, `some were dropped (${total - kept.length})`);
    t.ok(total - kept.length <= stats.messagesOverflowed, "each of them counted as an overflow");
  });
}

t.test("a worker that emits faster than the others read is paused by the hub, which holds little", async (t) => {
  // On the data socket (the hub can stop reading a socket, not an IPC channel).
  const c = await startCluster(t, { workers: 3, serialization: "json", dataSocket: true });
  const clients = [await c.connect(1), await c.connect(2)];
  const count = 200;
  const payload = 64 * 1024; // 12.5 MiB in all: under the sender's own cap, far over PAUSE_BYTES
  const got = clients.map((client) => collect(client, "seq", count, 60_000));
  const before = c.hub!.stats();
  const flowBefore = flowStats();
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, c.hub!.stats().messagesQueued);
  }, 1);
  t.teardown(() => clearInterval(sampler));
  await c.workers[0].eval(
    `const payload = "x".repeat(${payload});
     for (let i = 0; i < ${count}; i++) io.emit("seq", i, payload);
     return true`,
  );
  const received = await Promise.all(got);
  clearInterval(sampler);
  for (const [i, seqs] of received.entries()) {
    t.same(
      seqs.map((args: unknown[]) => args[0]),
      Array.from({ length: count }, (_, seq) => seq),
      `client ${i + 1} got every message once, in order`,
    );
  }
  const after = c.hub!.stats();
  t.ok(
    after.readsPaused > before.readsPaused,
    `the hub paused the sender (${after.readsPaused - before.readsPaused} times)`,
  );
  t.equal(after.messagesOverflowed, before.messagesOverflowed, "nothing overflowed");
  const flow = flowStats();
  t.ok(flow.drains > flowBefore.drains, "pauses ended when the workers had read what waited");
  t.equal(flow.stalls, flowBefore.stalls, "none waited for the stall timeout: every worker reads");
  // Without flow control the hub would take in all 2 × 200 copies as fast as the sender writes.
  t.ok(peak <= 64, `the hub held at most ${peak} of the ${2 * count} copies at once`);
});

t.test(
  "what a worker emits past its own queue's cap is dropped, counted in adapter.messagesOverflowed and in the hub",
  async (t) => {
    const c = await startCluster(t, { workers: 2, serialization: "json", dataSocket: true });
    const atSenders = () => c.hub?.stats().messagesOverflowedAtSenders ?? -1;
    t.equal(atSenders(), 0, "the hub has heard of no drop yet");
    const client = await c.connect(1);
    const seqs: number[] = [];
    client.on("seq", (seq: number) => seqs.push(seq));
    const count = 400;
    // 25 MiB in one synchronous loop: the socket cannot take it all before the loop ends.
    const overflowed = (await c.workers[0].eval(
      `const payload = "x".repeat(64 * 1024);
     const before = io.of("/").adapter.messagesOverflowed;
     for (let i = 0; i < ${count}; i++) io.emit("seq", i, payload);
     return io.of("/").adapter.messagesOverflowed - before`,
    )) as number;
    t.ok(overflowed > 0, `${overflowed} dropped at the sender`);
    t.ok(overflowed < count, "not all");
    await until(() => seqs.length === count - overflowed, `the ${count - overflowed} others to arrive`, 60_000);
    t.ok(
      seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]),
      "what was kept arrives in order, without a duplicate",
    );
    t.same(seqs.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "the oldest were kept");
    const later = (await c.workers[0].eval(
      `io.emit("seq", ${count}, "after"); return io.of("/").adapter.messagesOverflowed`,
    )) as number;
    await until(() => seqs.at(-1) === count, "a message after the queue drained", 30_000);
    t.ok(later >= overflowed, "the counter only grows");
    // The worker's report (OVERFLOWED, about a second after its drops) reaches the hub.
    await until(() => atSenders() === later, `hub.stats() to count the worker's ${later} drops`, 30_000);
    t.equal(c.hub?.stats().messagesOverflowed, 0, "not as drops of the hub's own");
  },
);
