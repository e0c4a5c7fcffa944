// The frame format and the Unix-socket link, over real sockets in this process.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { type Batch, envelope, Kind, type Publish } from "../../src/protocol/messages";
import { freeBlocks } from "../../src/transports/blocks";
import {
  connectUnixSocket,
  encodeFrame,
  FrameDecoder,
  FrameError,
  keptFrame,
  MAX_FRAME_SIZE,
  UnixSocketLink,
  unixSocketStats,
} from "../../src/transports/unix-socket";
import { once, until } from "../helpers/wait";

const publish = (d: string) => envelope<Publish>({ k: Kind.PUBLISH, d });

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): unknown[] {
  const out: unknown[] = [];
  for (const chunk of chunks) decoder.push(chunk, (m) => out.push(m));
  return out;
}

function rawFrame(body: string, length = Buffer.byteLength(body)): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return Buffer.concat([header, Buffer.from(body)]);
}

t.test("frames survive any cut of the stream", async (t) => {
  const messages = [publish("a"), publish("é😀".repeat(1000)), publish("")];
  const stream = Buffer.concat(messages.map((m) => encodeFrame(m)!));
  t.same(decodeAll(new FrameDecoder(), [stream]), messages, "all in one chunk");
  const bytes = [...stream].map((b) => Buffer.from([b]));
  t.same(decodeAll(new FrameDecoder(), bytes), messages, "one byte at a time");
  for (const cut of [1, 3, 4, 5, 17, stream.length - 1]) {
    t.same(decodeAll(new FrameDecoder(), [stream.subarray(0, cut), stream.subarray(cut)]), messages, `cut at ${cut}`);
  }
  const decoder = new FrameDecoder();
  decodeAll(decoder, [stream.subarray(0, 6)]);
  t.equal(decoder.pending, 6, "an unfinished frame is pending (truncated if the stream ends)");
});

t.test("chunks read into one reused buffer: what is left of each is copied before the next read", async (t) => {
  const messages = [publish("a"), publish("é😀".repeat(1000)), publish(""), envelope({ k: Kind.BYE, uid: "w" })];
  const stream = Buffer.concat(messages.map((m) => encodeFrame(m)!));
  for (const size of [1, 3, 4, 5, 64, 1000, stream.length]) {
    // As a socket made by connectUnixSocket: each read lands at the start of the same buffer,
    // which is overwritten by the next.
    const buffer = Buffer.alloc(size);
    const out: unknown[] = [];
    const decoder = new FrameDecoder();
    for (let offset = 0; offset < stream.length; offset += size) {
      const length = stream.copy(buffer, 0, offset, offset + size);
      decoder.push(buffer.subarray(0, length), (m) => out.push(m), true);
      buffer.fill(0xff);
    }
    t.same(out, messages, `reads of ${size} bytes`);
    t.equal(decoder.pending, 0, "nothing left over");
  }
  // The hub's side keeps frames to forward them: never slices of a reused buffer.
  const keeping = new FrameDecoder(MAX_FRAME_SIZE, true);
  const buffer = Buffer.from(stream);
  const kept: Publish[] = [];
  keeping.push(buffer, (m) => kept.push(m as Publish), true);
  buffer.fill(0);
  t.same(
    kept.map((m) => keptFrame(m)),
    messages.map((m) => encodeFrame(m)),
    "kept frames hold their own bytes",
  );
});

t.test("random streams, random cuts, reused or not, kept or not: every frame, intact, in order", async (t) => {
  // A small deterministic generator: the same cases on every run.
  let seed = 0x5eed;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const payload = () => "aé😀\n{}".repeat(random(4)) + "x".repeat(random(3) === 0 ? random(70_000) : random(40));
  const envelopes = () =>
    Array.from({ length: 1 + random(12) }, () =>
      random(5) === 0
        ? envelope({ k: Kind.BYE, uid: `w${random(100)}` })
        : random(4) === 0
          ? envelope<Batch>({ k: Kind.BATCH, b: Array.from({ length: 1 + random(5) }, payload) })
          : publish(payload()),
    );
  let mismatches = 0;
  for (let run = 0; run < 300; run++) {
    const messages = envelopes();
    const stream = Buffer.concat(messages.map((m) => encodeFrame(m)!));
    const reused = random(2) === 0;
    const keep = random(2) === 0;
    const decoder = new FrameDecoder(MAX_FRAME_SIZE, keep);
    const buffer = Buffer.alloc(1 + random(80_000));
    const out: unknown[] = [];
    for (let offset = 0; offset < stream.length; ) {
      const size = 1 + random(buffer.length);
      const length = stream.copy(buffer, 0, offset, offset + size);
      offset += length;
      const chunk = reused ? buffer.subarray(0, length) : Buffer.from(buffer.subarray(0, length));
      decoder.push(chunk, (m) => out.push(m), reused);
      buffer.fill(0xee);
    }
    const same = JSON.stringify(out) === JSON.stringify(messages) && decoder.pending === 0;
    const framesIntact = !keep || out.every((m, i) => keptFrame(m as Publish)?.equals(encodeFrame(messages[i])!));
    if (!same || !framesIntact) mismatches++;
  }
  t.equal(mismatches, 0, "300 random streams decode to what was encoded (and kept frames hold their bytes)");
});

t.test("a large frame in many chunks is decoded once", async (t) => {
  const big = publish("x".repeat(3_000_000));
  const stream = encodeFrame(big)!;
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += 65_536) chunks.push(stream.subarray(i, i + 65_536));
  t.same(decodeAll(new FrameDecoder(), chunks), [big]);
});

t.test("bad frames throw a FrameError, after the good frames before them", async (t) => {
  const good = publish("ok");
  const cases: [string, Buffer, RegExp][] = [
    ["oversized", rawFrame("x", MAX_FRAME_SIZE + 1), /^oversized/],
    ["empty", rawFrame(""), /empty frame/],
    ["not JSON", rawFrame("\u0000garbage"), /not JSON/],
    ["not an envelope", rawFrame('{"hello":1}'), /not an envelope/],
    ["an array", rawFrame("[1]"), /not an envelope/],
    ["another version", rawFrame('{"sio-ipc":2,"k":3,"d":""}'), /protocol version 2/],
  ];
  for (const [what, bytes, message] of cases) {
    const out: unknown[] = [];
    let thrown: unknown = null;
    try {
      new FrameDecoder().push(Buffer.concat([encodeFrame(good)!, bytes]), (m) => out.push(m));
    } catch (error) {
      thrown = error;
    }
    t.ok(thrown instanceof FrameError, `${what}: a FrameError`);
    t.match((thrown as Error).message, message);
    t.same(out, [good], `${what}: the frame before it was handed on`);
  }
  t.throws(() => new FrameDecoder(10).push(rawFrame("x".repeat(11)), () => {}), /oversized/, "a lower limit");
  t.equal(encodeFrame(publish("x".repeat(100)), 50), null, "an envelope over the limit is not encoded");
});

/**
 * A connected pair of Unix sockets in this process: [client, server side]. `connect` makes the
 * client (net.connect by default).
 */
async function socketPair(t: Tap, connect: (path: string) => Socket = netConnect): Promise<[Socket, Socket]> {
  const dir = mkdtempSync(join(tmpdir(), "sio-ut-"));
  const path = join(dir, "s.sock");
  const server = createServer();
  const accepted = once(server, "connection");
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = connect(path);
  const [serverSide] = await accepted;
  await once(client, "connect").catch(() => {});
  t.teardown(() => {
    client.destroy();
    serverSide.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return [client, serverSide];
}
type Tap = { teardown(fn: () => unknown): void };

t.test("a link carries envelopes both ways, in order", async (t) => {
  const [a, b] = await socketPair(t);
  const left = new UnixSocketLink(a, "worker", "left");
  const right = new UnixSocketLink(b, "worker", "right");
  const got: unknown[] = [];
  right.onMessage((m) => got.push(m));
  const sentBefore = unixSocketStats().framesSent;
  for (let i = 0; i < 100; i++) left.send(publish(String(i)));
  // Plain broadcasts of one tick travel together: the items of a BATCH frame are bare payloads.
  const payloads = () => got.flatMap((m) => ((m as Batch).k === Kind.BATCH ? (m as Batch).b : [(m as Publish).d]));
  await until(() => payloads().length === 100, "100 envelopes");
  t.same(
    payloads(),
    Array.from({ length: 100 }, (_, i) => String(i)),
    "in order",
  );
  t.equal(
    unixSocketStats().framesSent - sentBefore,
    2,
    "the first alone (the link was idle), the 99 others in one frame",
  );
  t.same(
    got.map((m) => (m as Batch).k),
    [Kind.PUBLISH, Kind.BATCH],
  );
  await until(() => left.queued === 0, "the writes to complete");
  const closed = new Promise<void>((resolve) => right.onClose(resolve));
  left.send(publish("last words"));
  left.close();
  await closed;
  t.pass("closing one end closes the other");
  t.equal((got[got.length - 1] as Publish).d, "last words", "after what was sent before the close");
  const dropped: Error[] = [];
  left.onDropped((e) => dropped.push(e));
  left.send(publish("late"));
  t.equal(dropped.length, 1, "a send on a closed link is dropped");
  t.equal(left.dropped, 1);
});

t.test("connectUnixSocket: one reused read buffer; what came before the link is handed to it first", async (t) => {
  const [client, serverSide] = await socketPair(t, connectUnixSocket);
  // Two frames and the start of a third arrive before the client has its link.
  const early = [publish("first"), publish("second"), publish("x".repeat(200_000))];
  const stream = Buffer.concat(early.map((m) => encodeFrame(m)!));
  serverSide.write(stream.subarray(0, stream.length - 1000));
  await until(() => client.bytesRead === stream.length - 1000, "the client to read them");
  const link = new UnixSocketLink(client, "worker", "client");
  const got: unknown[] = [];
  link.onMessage((m) => got.push(m));
  t.same(got, [], "handed on once its listeners are there");
  await Promise.resolve();
  t.same(got, early.slice(0, 2), "what was read before the link, in order");
  serverSide.write(stream.subarray(stream.length - 1000));
  const late = Array.from({ length: 50 }, (_, i) => publish(`late ${i} ${"y".repeat(i * 997)}`));
  serverSide.write(Buffer.concat(late.map((m) => encodeFrame(m)!)));
  await until(() => got.length === 3 + late.length, "every frame");
  t.same(got, [...early, ...late], "then every frame, intact, in order, across reads into the same buffer");
  let data = 0;
  client.on("data", () => data++);
  const peer = new UnixSocketLink(serverSide, "worker", "server");
  const back: unknown[] = [];
  peer.onMessage((m) => back.push(m));
  link.send(publish("and back"));
  await until(() => back.length === 1, "the answer");
  t.equal(data, 0, "no 'data' event: the stream machinery is skipped");
});

t.test("a listener that throws does not break the stream", async (t) => {
  const [a, b] = await socketPair(t);
  const left = new UnixSocketLink(a, "worker", "left");
  const right = new UnixSocketLink(b, "worker", "right");
  const got: string[] = [];
  right.onMessage((m) => {
    if ((m as Publish).d === "boom") throw new Error("listener bug");
    got.push((m as Publish).d);
  });
  left.send(publish("boom"));
  left.send(publish("after"));
  await until(() => got.length === 1, "the frame after the failing one");
  t.same(got, ["after"]);
});

t.test("a slow reader: data over the cap is dropped and counted, control envelopes always go", async (t) => {
  const [a, b] = await socketPair(t);
  b.pause(); // never reads: the kernel buffers fill, then the writer's queue grows
  const writer = new UnixSocketLink(a, "worker", "writer", { maxQueuedBytes: 64 * 1024 });
  const dropped: Error[] = [];
  writer.onDropped((e) => dropped.push(e));
  const chunk = "y".repeat(16 * 1024);
  const before = unixSocketStats().framesDropped;
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(w.code!);
  process.on("warning", onWarning);
  t.teardown(() => {
    process.off("warning", onWarning);
  });
  // Tick after tick (what does not fit under the cap in a tick is dropped), until the kernel's
  // buffers are full and the socket holds data.
  let ticks = 0;
  while (a.writableLength === 0 && ticks++ < 1_000) {
    for (let i = 0; i < 100; i++) writer.send(publish(chunk));
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(a.writableLength > 0, "the socket holds unsent data");
  for (let i = 0; i < 100; i++) writer.send(publish(chunk));
  t.ok(writer.dropped > 0, `dropped ${writer.dropped} envelopes`);
  t.same(warnings, ["SIO_IPC_QUEUE_OVERFLOW"], "one process warning");
  t.equal(unixSocketStats().framesDropped - before, writer.dropped);
  t.ok(a.writableLength < 64 * 1024 + 2_000 * (chunk.length + 40), "the queue stays bounded");
  const queued = a.writableLength;
  const droppedBefore = writer.dropped;
  writer.send(envelope({ k: Kind.LEFT, uid: "someone" }));
  t.equal(writer.dropped, droppedBefore, "a LEFT notice is not dropped");
  t.ok(a.writableLength > queued || writer.queued > 0, "it was queued");
  writer.send(publish("x".repeat(100)));
  t.equal(dropped.length, writer.dropped);
  const tooBig = new UnixSocketLink(a, "worker", "small frames", { maxFrameSize: 10 });
  tooBig.send(publish("more than ten bytes"));
  t.equal(tooBig.dropped, 1, "an envelope over maxFrameSize is dropped");
});

t.test("behind a backlog, frames wait as copies in pooled blocks and arrive intact, in order", async (t) => {
  const [a, b] = await socketPair(t);
  b.pause(); // reads nothing until the writer has a backlog
  const writer = new UnixSocketLink(a, "worker", "writer");
  const reader = new UnixSocketLink(b, "worker", "reader");
  const got: string[] = [];
  reader.onMessage((m) => {
    const message = m as Batch | Publish;
    if (message.k === Kind.BATCH) got.push(...message.b);
    else got.push(message.d);
  });
  // Payloads of assorted sizes, among them one larger than a pooled write (a buffer of its own),
  // sent tick after tick so that later ticks find the socket backlogged.
  const sizes = [10, 70_000, 3_000, 65_536, 1, 3 * 1024 * 1024, 500, 200_000];
  const sent: string[] = [];
  for (let tick = 0; tick < 20; tick++) {
    for (const [i, size] of sizes.entries()) {
      if (size > 1024 * 1024 && tick !== 5) continue;
      const payload = `${tick}.${i}:`.padEnd(size, String.fromCharCode(97 + ((tick + i) % 26)));
      sent.push(payload);
      writer.send(publish(payload));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(a.writableLength > 0, "the writer has a backlog");
  t.equal(writer.dropped, 0, "under the cap: nothing dropped");
  b.resume();
  await until(() => got.length === sent.length, `${sent.length} payloads`, 30_000);
  t.ok(
    got.every((payload, i) => payload === sent[i]),
    "every payload intact and in order",
  );
  await until(() => writer.queued === 0, "every write done");
  t.ok(freeBlocks() > 0, `written blocks went back to the pool (${freeBlocks()} free)`);
});

t.test("onDrain: once PAUSE_BYTES waited, called when all is written, at once or later", async (t) => {
  const [a, b] = await socketPair(t);
  // A mark the kernel's buffers can take in one write, so that the first case is a write that
  // completes at once (for which a socket emits no 'drain').
  const pauseBytes = 48 * 1024;
  const writer = new UnixSocketLink(a, "worker", "writer", { pauseBytes });
  const reader = new UnixSocketLink(b, "worker", "reader");
  let received = 0;
  reader.onMessage(() => received++);
  let drains = 0;
  writer.onDrain(() => drains++);
  writer.send(publish("small"));
  await until(() => writer.queued === 0, "a small write");
  t.equal(drains, 0, "no backlog, no drain");
  const payload = "z".repeat(16 * 1024);
  for (let i = 0; i < 4; i++) writer.send(publish(payload));
  t.ok(writer.queuedBytes >= pauseBytes, `${writer.queuedBytes} bytes wait`);
  await until(() => writer.queued === 0, "the writes");
  t.equal(a.writableLength, 0, "written at once");
  t.equal(drains, 1, "the drain reported all the same");
  // A reader that stops: the write completes later, and the drain comes then.
  b.pause();
  while (a.writableLength === 0) {
    for (let i = 0; i < 20; i++) writer.send(publish(payload));
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(drains, 1, "not while the reader is stopped");
  b.resume();
  await until(() => drains === 2, "the second drain, once the reader read");
  await until(() => writer.queued === 0, "every write done");
  t.equal(writer.queuedBytes, 0, "nothing waits any more");
  t.ok(received > 0);
});

t.test("a bad frame closes the connection and is counted; so does a truncated one", async (t) => {
  for (const [what, bytes] of [
    ["garbage", rawFrame("garbage")],
    ["truncated", encodeFrame(publish("cut short"))!.subarray(0, 9)],
  ] as const) {
    const [a, b] = await socketPair(t);
    const link = new UnixSocketLink(b, "worker", what);
    const closed = new Promise<void>((resolve) => link.onClose(resolve));
    const before = unixSocketStats().framesRejected;
    a.end(bytes);
    await closed;
    t.equal(unixSocketStats().framesRejected - before, 1, what);
  }
  const [a] = await socketPair(t);
  a.destroy();
  const link = new UnixSocketLink(a, "worker", "born closed");
  await new Promise<void>((resolve) => link.onClose(resolve));
  t.pass("a link over a destroyed socket closes at once");
});

t.test("a BATCH frame: bare payloads after its header; a malformed one closes the connection", async (t) => {
  const items = ["a", "é😀", "", "x".repeat(70_000)];
  const batch = envelope<Batch>({ k: Kind.BATCH, b: items });
  const header = Buffer.from('{"sio-ipc":1,"k":11}\n');
  const parts = items.map((item) => {
    const bytes = Buffer.from(item);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  });
  const frameOfParts = (body: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    return Buffer.concat([length, body]);
  };
  const decoded = decodeAll(new FrameDecoder(), [frameOfParts(Buffer.concat([header, ...parts]))]);
  t.same(decoded, [batch], "items as strings, in order");
  t.same(
    decodeAll(new FrameDecoder(), [encodeFrame(batch)!]),
    [batch],
    "a BATCH made elsewhere (JSON, items inside) reads the same",
  );
  for (const [what, body] of [
    ["an item cut short", Buffer.concat([header, parts[0], Buffer.from([0, 0])])],
    ["an item longer than its frame", Buffer.concat([header, Buffer.from([0, 0, 0, 9, 1])])],
    ["items and a JSON list", Buffer.concat([Buffer.from('{"sio-ipc":1,"k":11,"b":[]}\n'), parts[0]])],
  ] as const) {
    t.throws(() => new FrameDecoder().push(frameOfParts(body), () => {}), /garbage/, what);
  }
});
