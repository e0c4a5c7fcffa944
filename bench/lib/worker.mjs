// A cluster worker of the benchmarks: a Socket.IO server with OUR adapter, the OFFICIAL one
// (@socket.io/cluster-adapter@0.3.0), or no Socket.IO at all (RAW: a hand-written process.send relay).
// The primary drives it with {bench: "cmd"} messages; it answers with {bench: "reply"}.
//
// What is counted, the same way for every adapter:
// - `received`: BROADCAST ClusterMessages handed to this worker's adapter (adapter.onMessage of
//   the "/" namespace; its local delivery runs synchronously inside). RAW: relayed messages.
// - `delivered`: packets written to the worker's sink sockets (see addSink), i.e. broadcasts that
//   reached a member of a room on this worker.
import http from "node:http";
import { createRequire } from "node:module";
import v8 from "node:v8";

const require = createRequire(import.meta.url);
const ADAPTER = process.env.BENCH_ADAPTER;
const INDEX = Number(process.env.BENCH_INDEX);
const BROADCAST = 3; // socket.io-adapter MessageType.BROADCAST

/** Where each adapter comes from; "baseline" is another build of ours (BASELINE=dir), for before/after. */
function adapterModule(adapter) {
  if (adapter === "ours") return "../../dist/index.js";
  if (adapter === "baseline") return process.env.BASELINE;
  return "@socket.io/cluster-adapter";
}

const counters = { received: 0, delivered: 0, sent: 0, serverEvents: 0, bytesPerBroadcast: 0, senderDropped: 0 };
let io = null;
let port = 0;

// Paces a sender by its IPC backpressure, whatever adapter calls process.send: Node returns false
// once more than 128 KiB wait in the channel's write queue; we resume when every write completed.
const channel = { ok: true, pending: 0 };
const rawSend = process.send.bind(process);
process.send = function (message, ...rest) {
  channel.pending++;
  const index = rest.findIndex((arg) => typeof arg === "function");
  const callback = index === -1 ? null : rest[index];
  const done = (error) => {
    channel.pending--;
    if (callback) callback(error);
  };
  if (index === -1) rest.push(done);
  else rest[index] = done;
  const ok = rawSend(message, ...rest);
  channel.ok = ok;
  return ok;
};
// Ours on its data socket: the same signal, from the bytes waiting there (Node's IPC threshold).
const IPC_HIGH_WATER = 128 * 1024;
// The baseline (another build of ours) is paced the same way, when its build has that link.
const linkModule =
  ADAPTER === "ours"
    ? "../../dist/worker.js"
    : ADAPTER === "baseline" && process.env.BASELINE
      ? require("node:path").join(require("node:path").dirname(process.env.BASELINE), "worker.js")
      : null;
const link = () => (linkModule === null ? null : (require(linkModule).workerLink?.() ?? null));
const backpressured = () =>
  (!channel.ok && channel.pending > 0) || (link()?.upgraded === true && link().queuedBytes > IPC_HIGH_WATER);

// IPC bytes per broadcast: after each snapshot, the first IPC message that carries broadcasts is
// serialized again as Node did it (JSON plus a newline, or v8.serialize for "advanced") and its
// size divided by the broadcasts it carries (a BATCH of ours carries many). One serialization per
// window: it costs nothing measurable, and the traffic of a window is uniform.
const SERIALIZATION = process.env.BENCH_SERIALIZATION ?? "json";
let sampleNext = true;
function broadcastsIn(message) {
  if (message?.r === 1 || (message?.source === "_sio_adapter" && message.type === BROADCAST)) return 1;
  if (message?.["sio-ipc"] === undefined) return 0;
  if (message.k === 3) return 1;
  return message.k === 10 && Array.isArray(message.b) ? message.b.length : 0;
}
process.on("message", (message) => {
  if (!sampleNext) return;
  const count = broadcastsIn(message);
  if (count === 0) return;
  sampleNext = false;
  const bytes =
    SERIALIZATION === "advanced" ? v8.serialize(message).length : Buffer.byteLength(JSON.stringify(message)) + 1;
  counters.bytesPerBroadcast = bytes / count;
});

if (ADAPTER === "raw") {
  process.on("message", (message) => {
    if (message?.r === 1) counters.received++;
  });
} else {
  const { Server } = require("socket.io");
  const { createAdapter } = require(adapterModule(ADAPTER));
  const httpServer = http.createServer();
  io = new Server(httpServer, { serveClient: false });
  io.adapter(createAdapter());
  const adapter = io.of("/").adapter;
  const onMessage = adapter.onMessage;
  adapter.onMessage = function (message, offset) {
    if (message.type === BROADCAST) counters.received++;
    return onMessage.call(this, message, offset);
  };
  io.on("connection", (socket) => {
    socket.on("join", (rooms, callback) => {
      socket.join(rooms);
      callback?.(INDEX);
    });
  });
  io.on("ping", (callback) => callback?.(INDEX));
  io.on("load", () => counters.serverEvents++);
  await new Promise((resolve) => httpServer.listen({ port: 0, host: "127.0.0.1", exclusive: true }, resolve));
  port = httpServer.address().port;
}

const sinks = [];

/**
 * A member of `rooms` without a network client: a server-side socket stub registered in the
 * namespace, whose writeToEngine counts the packets that the in-memory adapter delivers to it.
 * It lets a room live on one worker without a client process competing for the 2 cores.
 */
function addSink(rooms) {
  const nsp = io.of("/");
  const id = `sink-${INDEX}-${sinks.length}`;
  const sink = {
    id,
    client: {
      writeToEngine() {
        counters.delivered++;
      },
    },
  };
  nsp.sockets.set(id, sink);
  nsp.adapter.addAll(id, new Set([id, ...rooms]));
  sinks.push(sink);
  return id;
}

// Ours moves the workers' traffic to the hub's data socket: count the bytes read there.
let socketStats = null;
if (ADAPTER === "ours") socketStats = require("../../dist/transports/unix-socket.js").unixSocketStats;
else if (ADAPTER === "baseline") {
  try {
    socketStats = require(
      require("node:path").join(process.env.BASELINE, "../transports/unix-socket.js"),
    ).unixSocketStats;
  } catch {}
}

function snapshot() {
  sampleNext = true;
  return {
    t: Date.now(),
    ...counters,
    socketBytes: socketStats?.().bytesReceived ?? 0,
    cpu: process.cpuUsage(),
    rss: process.memoryUsage.rss(),
    maxRss: process.resourceUsage().maxRSS * 1024,
  };
}

const at = (time, fn) => setTimeout(fn, Math.max(0, time - Date.now()));

/** Snapshots at each of `times` (ms since the epoch), sent to the primary after the last one. */
function schedule({ times }) {
  const snaps = [];
  for (const time of times) {
    at(time, () => {
      snaps.push(snapshot());
      if (snaps.length === times.length) rawSend({ bench: "snaps", index: INDEX, snaps });
    });
  }
}

/**
 * Sends as fast as it can from `from` to `until`: `kind` "emit" (io.emit or io.to(room).emit),
 * "ssemit" (io.serverSideEmit) or "raw" (process.send to the relay).
 * - `window`: no more than this many messages in flight: sent and not yet counted by the receivers
 *   (`progress`: which workers report which counter, and whether every one of them gets each
 *   message, "min", or exactly one does, "sum"). The throughput measured is then what the cluster
 *   sustains without dropping or queueing without limit, whatever the adapter.
 * - `paced`: also wait while this process's IPC channel is backpressured.
 * - neither: send regardless, as an application that cannot see backpressure does (S6).
 */
function flood({
  from,
  until,
  size,
  kind = "emit",
  rooms = [],
  paced = true,
  window = 0,
  progress = null,
  burst = 100,
}) {
  const payload = "x".repeat(size);
  // Ours: what this process's own link to the hub dropped (its queue full: the hub paces it).
  link()?.onDropped((_error, count) => {
    counters.senderDropped += count;
  });
  const targets = io === null ? [] : rooms.length > 0 ? rooms.map((room) => io.to(room)) : [io];
  const rssCap = 3 * 1024 ** 3;
  let next = 0;
  let base = null;
  const reported = new Map();
  const done = () => {
    if (reported.size < (progress?.workers.length ?? 0)) return 0;
    const counts = progress.workers.map((i) => reported.get(i) - base.get(i));
    return progress.mode === "sum" ? counts.reduce((a, b) => a + b, 0) : Math.min(...counts);
  };
  if (window > 0) {
    onProgress = (index, count) => {
      reported.set(index, count);
      base ??= new Map();
      if (!base.has(index)) base.set(index, count);
    };
    for (const i of progress.workers) sendTo(i, "progress", { until, field: progress.field });
  }
  let firstSent = 0;
  const inFlight = () => counters.sent - firstSent - done();
  const sendOne = () => {
    counters.sent++;
    if (kind === "raw") return process.send({ r: 1, d: payload });
    if (kind === "ssemit") return io.serverSideEmit("load", payload);
    targets[next++ % targets.length].emit("m", payload);
  };
  const step = () => {
    if (Date.now() >= until) return;
    if (paced && backpressured()) return setImmediate(step);
    if (window > 0 && (base === null || base.size < progress.workers.length || inFlight() >= window)) {
      return setImmediate(step);
    }
    if (!paced && counters.sent % 10_000 < burst && process.memoryUsage.rss() > rssCap) {
      counters.stoppedAtCap = true;
      return; // a safety net for the machine, reported, never reached in the runs we publish
    }
    for (let i = 0; i < burst; i++) {
      sendOne();
      if (paced && backpressured()) break;
      if (window > 0 && inFlight() >= window) break;
    }
    setImmediate(step);
  };
  at(from, () => {
    firstSent = counters.sent;
    step();
  });
}

let onProgress = null;

/** Asks the primary to pass `op` to worker `index` (the progress of the receivers, to the sender). */
function sendTo(index, op, args) {
  rawSend({ bench: "relay", to: index, op, args: { ...args, sender: INDEX } });
}

/** A receiver: reports `field` to the sender every 5 ms until `until`. */
function progress({ until, field, sender }) {
  const timer = setInterval(() => {
    sendTo(sender, "progressed", { index: INDEX, count: counters[field] });
    if (Date.now() >= until) clearInterval(timer);
  }, 5);
}

/** Emits a timestamp (monotonic clock, comparable across processes) `rate` times a second. */
function probe({ from, until, rate }) {
  const interval = 1_000 / rate;
  let n = 0;
  const start = () => {
    const t0 = Date.now();
    const tick = () => {
      const now = Date.now();
      if (now >= until) return;
      io.emit("probe", Number(process.hrtime.bigint()) / 1e6, now);
      counters.sent++;
      n++;
      setTimeout(tick, Math.max(0, t0 + n * interval - Date.now()));
    };
    tick();
  };
  at(from, start);
}

/** Blocks the event loop `busyMs` in every `periodMs`, from `from` to `until`. */
function block({ from, until, busyMs, periodMs }) {
  const tick = () => {
    const start = Date.now();
    if (start >= until) return;
    while (Date.now() - start < busyMs) {
      // busy: a slow worker
    }
    setTimeout(tick, periodMs - busyMs);
  };
  at(from, tick);
}

/** Round trips, one at a time, for `ms`: fetchSockets or serverSideEmit with an ack. */
async function requests({ kind, ms, warmup = 20 }) {
  const once = () =>
    kind === "fetchSockets"
      ? io.fetchSockets()
      : new Promise((resolve, reject) =>
          io.serverSideEmit("ping", (error, answers) => (error ? reject(error) : resolve(answers))),
        );
  for (let i = 0; i < warmup; i++) await once();
  const samples = [];
  let answers = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const start = process.hrtime.bigint();
    const result = await once();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    answers = result.length;
  }
  return { samples, answers };
}

const ops = {
  info: () => ({ index: INDEX, port, pid: process.pid }),
  serverCount: () => (io ? io.of("/").adapter.serverCount() : 0),
  sink: ({ rooms }) => addSink(rooms),
  progress,
  progressed: ({ index, count }) => onProgress?.(index, count),
  schedule,
  flood,
  probe,
  block,
  requests,
  snapshot,
};

process.on("message", async (message) => {
  if (message?.bench !== "cmd") return;
  try {
    const value = await ops[message.op](message.args ?? {});
    if (message.id === 0) return; // relayed from another worker: no answer expected
    rawSend({ bench: "reply", id: message.id, value: value ?? null });
  } catch (error) {
    rawSend({ bench: "reply", id: message.id, error: String(error?.stack ?? error) });
  }
});
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
rawSend({ bench: "ready", index: INDEX, port });
