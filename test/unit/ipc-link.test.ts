import { EventEmitter } from "node:events";
import t from "tap";
import { QueueOverflowError } from "../../src/errors";
import { Hub } from "../../src/hub/hub";
import { type Envelope, envelope, Kind, unbatch } from "../../src/protocol/messages";
import { IpcLink, MAX_BATCH_ENVELOPES, MAX_QUEUED_BYTES, VOLATILE_HIGH_WATER } from "../../src/transports/ipc";
import { PAUSE_BYTES } from "../../src/transports/link";

/**
 * The peer side of an IPC channel, as IpcLink sees it: send() records each message and keeps its
 * callback until the test says the channel wrote it, as a full pipe would.
 */
class FakePeer extends EventEmitter {
  connected = true;
  sent: unknown[] = [];
  callbacks: ((error: Error | null) => void)[] = [];
  throwOnSend = false;
  send(message: unknown, callback?: (error: Error | null) => void): boolean {
    if (this.throwOnSend) throw new Error("channel closed");
    this.sent.push(message);
    if (callback) this.callbacks.push(callback);
    return true;
  }
  /** The channel wrote everything sent so far. */
  drain(error: Error | null = null): void {
    for (const callback of this.callbacks.splice(0)) callback(error);
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const publish = (d: string, v?: 1): Envelope => envelope({ k: Kind.PUBLISH, d, ...(v ? { v } : {}) });

/** What the peer received, unbatched, as the receiving side sees it. */
function received(peer: FakePeer): unknown[] {
  return peer.sent.flatMap((m) => ((m as Envelope).k === Kind.BATCH ? unbatch(m as never) : [m]));
}

t.test("on a busy link, envelopes sent in one tick leave as one BATCH, in order", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  link.send(publish("first"));
  t.same(peer.sent, [publish("first")], "an envelope on an idle link leaves at once");
  link.send(publish("a"));
  link.send(envelope({ k: Kind.LEFT, uid: "s2" }));
  link.send(publish("b"));
  t.equal(peer.sent.length, 1, "while it is being written, the others wait for the end of the tick");
  t.equal(link.queued, 4);
  await tick();
  t.equal(peer.sent.length, 2, "then leave as one IPC message");
  t.same(peer.sent[1], envelope({ k: Kind.BATCH, b: ["a", { "sio-ipc": 1, k: Kind.LEFT, uid: "s2" }, "b"] }));
  t.same(received(peer), [publish("first"), publish("a"), envelope({ k: Kind.LEFT, uid: "s2" }), publish("b")]);
  t.equal(link.queued, 4, "still queued until the channel wrote them");
  peer.drain();
  t.equal(link.queued, 0);
  t.equal(link.queuedBytes, 0);
  link.send(publish("idle again"));
  t.equal(peer.sent.length, 3, "once written, the link is idle again");
});

t.test("an envelope alone in its tick leaves as itself", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  const message = publish("alone");
  link.send(message);
  await tick();
  t.equal(peer.sent[0], message, "the very object, no batch around it");
});

t.test("a PUBLISH with more than a payload keeps its fields in a batch", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  const logged = envelope({ k: Kind.PUBLISH, d: "x", o: "1-2", n: "/" });
  const volatile = publish("y", 1);
  link.send(logged);
  link.send(volatile);
  await tick();
  t.same(received(peer), [logged, volatile]);
});

t.test("a batch is sent early when it is full, and order holds across batches", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  const count = MAX_BATCH_ENVELOPES + 10;
  for (let i = 0; i < count; i++) link.send(publish(String(i)));
  t.equal(peer.sent.length, 2, "the first alone, then the full batch at once");
  await tick();
  t.equal(peer.sent.length, 3);
  t.same(
    received(peer).map((m) => (m as { d: string }).d),
    Array.from({ length: count }, (_, i) => String(i)),
  );
});

t.test("the hub and a worker read a batch as the envelopes it holds", async (t) => {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const a = new FakePeer();
  const b = new FakePeer();
  hub.addLink(new IpcLink(a, "worker", "a"));
  hub.addLink(new IpcLink(b, "worker", "b"));
  // A worker's first message is a batch: HELLO, its namespace, a broadcast.
  a.emit(
    "message",
    envelope({
      k: Kind.BATCH,
      b: [
        { "sio-ipc": 1, k: Kind.HELLO, uid: "s1", role: "server" },
        { "sio-ipc": 1, k: Kind.NAMESPACE, n: "/", up: true },
      ],
    }),
  );
  b.emit("message", envelope({ k: Kind.HELLO, uid: "s2", role: "server" }));
  await tick();
  a.sent = [];
  b.sent = [];
  a.emit(
    "message",
    envelope({ k: Kind.BATCH, b: ["one", "two", { "sio-ipc": 1, k: Kind.PUBLISH, d: "three", v: 1 }] }),
  );
  await tick();
  t.same(received(b), [publish("one"), publish("two"), publish("three", 1)], "forwarded in order, in one batch");
  t.equal(b.sent.length, 1);
  t.same(a.sent, [], "not back to the sender");
  t.equal(hub.stats().messagesRouted, 2 + 3, "two WELCOMEs, then one per envelope");
  a.emit("message", envelope({ k: Kind.BATCH, b: [{ "sio-ipc": 1, k: Kind.BATCH, b: ["nested"] }] }));
  a.emit("message", envelope({ k: Kind.BATCH, b: [{ "sio-ipc": 2, k: Kind.PUBLISH, d: "v2" }, 42] }));
  await tick();
  t.equal(hub.stats().messagesRejected, 2, "a nested batch and a batch with a bad item are rejected whole");
  t.equal(b.sent.length, 1, "and nothing of them is forwarded");
});

t.test("toward a slow peer: volatile broadcasts go first, then everything but control envelopes", async (t) => {
  const peer = new FakePeer();
  const cap = 4 * VOLATILE_HIGH_WATER;
  const link = new IpcLink(peer, "worker", "slow", { maxQueuedBytes: cap });
  const dropped: [Error, number][] = [];
  link.onDropped((error, count) => dropped.push([error, count]));
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));
  const chunk = "x".repeat(64 * 1024);
  // Below the high-water mark, volatile broadcasts go.
  link.send(publish(chunk, 1));
  t.equal(dropped.length, 0);
  let first = 0;
  while (link.queuedBytes < VOLATILE_HIGH_WATER) {
    link.send(publish(chunk));
    first++;
  }
  link.send(publish(chunk, 1));
  t.equal(dropped.length, 1, "a volatile broadcast is dropped once 1 MiB waits");
  t.ok(dropped[0][0] instanceof QueueOverflowError && (dropped[0][0] as QueueOverflowError).volatile);
  await tick();
  let sent = 0;
  while (link.queuedBytes + chunk.length + 32 <= cap) {
    link.send(publish(chunk));
    sent++;
  }
  t.ok(sent > 0, "non-volatile ones still go up to the cap");
  link.send(publish(chunk));
  link.send(envelope({ k: Kind.RESPONSE, to: "s1", d: chunk }));
  t.equal(dropped.length, 3, "past the cap, broadcasts and responses are dropped");
  t.notOk((dropped[1][0] as QueueOverflowError).volatile);
  link.send(envelope({ k: Kind.LEFT, uid: "s9" }));
  link.send(envelope({ k: Kind.NAMESPACE, n: "/", up: true }));
  t.equal(dropped.length, 3, "membership envelopes always go");
  t.ok(link.queuedBytes <= cap + 2 * 32, "the queue stays within the cap");
  await tick();
  await tick();
  t.equal(warnings.filter((w) => (w as { code?: string }).code === "SIO_IPC_QUEUE_OVERFLOW").length, 1, "one warning");
  peer.drain();
  t.equal(link.queuedBytes, 0, "all written once the peer catches up");
  link.send(publish(chunk));
  link.send(publish(chunk, 1));
  t.equal(dropped.length, 3, "and it takes everything again");
  await tick();
  const arrived = received(peer).filter((m) => (m as Envelope).k === Kind.PUBLISH).length;
  t.equal(arrived, 1 + first + sent + 2, "what was not dropped arrived");
});

t.test("the default cap is 16 MiB", async (t) => {
  t.equal(MAX_QUEUED_BYTES, 16 * 1024 * 1024);
});

t.test("the hub counts overflows apart, within messagesDropped", async (t) => {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const a = new FakePeer();
  const b = new FakePeer();
  hub.addLink(new IpcLink(a, "worker", "a"));
  hub.addLink(new IpcLink(b, "worker", "b", { maxQueuedBytes: 1_000 }));
  a.emit("message", envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
  b.emit("message", envelope({ k: Kind.HELLO, uid: "s2", role: "server" }));
  for (let i = 0; i < 5; i++) a.emit("message", publish("y".repeat(400)));
  const stats = hub.stats();
  t.equal(stats.messagesOverflowed, 3, "two fit in 1000 bytes");
  t.equal(stats.messagesDropped, 3);
  b.drain();
});

t.test("a send that fails or throws drops the whole batch, counted once per envelope", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  const dropped: number[] = [];
  link.onDropped((_error, count) => dropped.push(count));
  link.send(publish("a"));
  link.send(publish("b"));
  link.send(publish("c"));
  await tick();
  peer.drain(new Error("EPIPE"));
  t.same(dropped, [1, 2], "the first alone, then the batch of two");
  peer.throwOnSend = true;
  link.send(publish("d"));
  t.same(dropped, [1, 2, 1]);
  t.equal(link.queued, 0);
  peer.throwOnSend = false;
  link.send(publish("e"));
  peer.connected = false;
  link.send(publish("f"));
  await tick();
  t.same(dropped, [1, 2, 1, 1], "a peer that disconnected within the tick");
});

t.test("close() sends what the tick queued, then drops what comes after", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  const dropped: number[] = [];
  link.onDropped((_error, count) => dropped.push(count));
  link.send(envelope({ k: Kind.NAMESPACE, n: "/", up: false }));
  link.close();
  t.same(peer.sent, [envelope({ k: Kind.NAMESPACE, n: "/", up: false })], "the last envelope went out");
  link.send(publish("late"));
  t.same(dropped, [1]);
  link.close();
  await tick();
  t.equal(peer.sent.length, 1);
});

t.test("a ROOMS leaves at once, with what was queued before it, in order", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  link.send(publish("busy"));
  link.send(publish("before"));
  link.send(envelope({ k: Kind.ROOMS, n: "/", up: ["r"] }));
  t.equal(peer.sent.length, 2, "written within the tick, though the link is busy");
  t.same(received(peer), [publish("busy"), publish("before"), envelope({ k: Kind.ROOMS, n: "/", up: ["r"] })]);
  link.send(publish("after"));
  await tick();
  t.same(received(peer).slice(3), [publish("after")]);
});

t.test("onDrain: once PAUSE_BYTES waited, called when the channel has written everything", async (t) => {
  const peer = new FakePeer();
  const link = new IpcLink(peer, "worker", "w1");
  let drains = 0;
  link.onDrain(() => drains++);
  link.send(publish("small"));
  peer.drain();
  t.equal(drains, 0, "no backlog, no drain");
  const payload = "p".repeat(64 * 1024);
  while (link.queuedBytes < PAUSE_BYTES) {
    link.send(publish(payload));
    await tick();
  }
  t.equal(drains, 0, "not while bytes wait");
  const half = peer.callbacks.splice(0, 1);
  for (const callback of half) callback(null);
  t.equal(drains, 0, "nor when only part was written");
  peer.drain();
  t.equal(drains, 1, "once all is written");
  t.equal(link.queuedBytes, 0);
  link.send(publish("small again"));
  peer.drain();
  t.equal(drains, 1, "once per backlog");
});
