// The cluster primary of one benchmark case, forked by the runner so that every case starts from a
// fresh process (its CPU time and peak RSS are the case's own). argv[2] is the case, as JSON:
// { adapter: "ours" | "official" | "raw", workers, serialization, module, params }.
// It sets up the adapter's primary side, forks the workers, runs the scenario's drive(ctx, params)
// and sends { result } back to the runner.
import { fork } from "node:child_process";
import cluster from "node:cluster";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const spec = JSON.parse(process.argv[2]);
const WORKER = fileURLToPath(new URL("./worker.mjs", import.meta.url));
const CLIENTS = fileURLToPath(new URL("./clients.mjs", import.meta.url));

let hub = null;
if (spec.adapter === "ours") {
  hub = require("../../dist/index.js").setupPrimary({ dataSocket: process.env.DATA_SOCKET !== "0" });
} else if (spec.adapter === "baseline") {
  hub = require(process.env.BASELINE).setupPrimary();
} else if (spec.adapter === "official") {
  require("@socket.io/cluster-adapter").setupPrimary();
} else {
  // The reference: a hand-written relay, one process.send per destination, no Socket.IO.
  cluster.on("message", (origin, message) => {
    if (message?.r !== 1) return;
    for (const worker of Object.values(cluster.workers)) if (worker !== origin) worker.send(message);
  });
}

// MEMLOG=file: the primary's memory every second, appended to that file (where RSS goes: heap,
// buffers, the rest).
if (process.env.MEMLOG) {
  const { appendFileSync } = require("node:fs");
  const mb = (n) => (n / 1024 / 1024).toFixed(0);
  let memlogTicks = 0;
  setInterval(() => {
    if (process.env.MEMLOG_GC && globalThis.gc) globalThis.gc();
    if (process.env.MEMLOG_SNAPSHOT && ++memlogTicks === 12)
      require("node:v8").writeHeapSnapshot(process.env.MEMLOG_SNAPSHOT);
    const m = process.memoryUsage();
    const queued = hub?.stats?.().messagesQueued ?? 0;
    appendFileSync(
      process.env.MEMLOG,
      `[memlog ${spec.adapter}] rss ${mb(m.rss)} heapUsed ${mb(m.heapUsed)} heapTotal ${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} queued ${queued}\n`,
    );
  }, 1_000).unref();
}

// PROFILE=dir: every worker writes a V8 CPU profile there (node --cpu-prof), as the primary does.
const execArgv = process.env.PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE}`] : [];
cluster.setupPrimary({ exec: WORKER, serialization: spec.serialization, silent: false, execArgv });

let nextId = 0;
const pending = new Map();
const snapWaiters = new Map();

function handle(worker, message) {
  if (message?.bench === "reply") {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(`worker ${worker.index}: ${message.error}`));
    else waiter?.resolve(message.value);
  } else if (message?.bench === "snaps") {
    snapWaiters.get(message.index)?.(message.snaps);
  } else if (message?.bench === "relay") {
    // Between workers, for the bench itself (a receiver's progress to the sender): a few a second.
    byIndex.get(message.to)?.send({ bench: "cmd", id: 0, op: message.op, args: message.args });
  }
}

const byIndex = new Map();

function startWorker(index) {
  const worker = cluster.fork({
    BENCH_ADAPTER: spec.adapter,
    BENCH_INDEX: String(index),
    BENCH_SERIALIZATION: spec.serialization,
  });
  worker.index = index;
  byIndex.set(index, worker);
  worker.on("message", (message) => handle(worker, message));
  return new Promise((resolve, reject) => {
    const onReady = (message) => {
      if (message?.bench !== "ready") return;
      worker.off("message", onReady);
      resolve({
        index,
        port: message.port,
        pid: worker.process.pid,
        cmd: (op, args) =>
          new Promise((ok, fail) => {
            const id = ++nextId;
            pending.set(id, { resolve: ok, reject: fail });
            worker.send({ bench: "cmd", id, op, args });
          }),
      });
    };
    worker.on("message", onReady);
    worker.once("exit", (code) => reject(new Error(`worker ${index} exited with ${code} before it was ready`)));
  });
}

function snapshot() {
  return {
    t: Date.now(),
    cpu: process.cpuUsage(),
    rss: process.memoryUsage.rss(),
    memory: process.memoryUsage(),
    maxRss: process.resourceUsage().maxRSS * 1024,
    hub: hub ? hub.stats() : null,
  };
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const workers = await Promise.all(Array.from({ length: spec.workers }, (_, i) => startWorker(i)));

// Every server knows every other one (heartbeats crossed) before anything is measured.
if (spec.adapter !== "raw") {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const counts = await Promise.all(workers.map((w) => w.cmd("serverCount")));
    if (counts.every((count) => count === spec.workers)) break;
    if (Date.now() > deadline) throw new Error(`server counts ${counts} never reached ${spec.workers}`);
    await delay(50);
  }
}

/** What a scenario's drive() gets. */
const ctx = {
  spec,
  workers,
  hub,
  delay,
  /**
   * Takes a snapshot in every worker and in this primary at each of `times` (ms since the epoch);
   * resolves with { primary: [snap...], workers: [[snap...] per worker] }. Workers push their
   * snapshots as soon as they are taken, so a backlog toward a worker does not delay them much.
   */
  async window(times, { sampleRss = true } = {}) {
    const gathered = workers.map(
      (w) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(null), times.at(-1) - Date.now() + 60_000);
          snapWaiters.set(w.index, (snaps) => {
            clearTimeout(timer);
            resolve(snaps);
          });
        }),
    );
    await Promise.all(workers.map((w) => w.cmd("schedule", { times })));
    const primary = [];
    let peakRss = 0;
    let atPeak = null;
    const sampler = sampleRss
      ? setInterval(() => {
          const rss = process.memoryUsage.rss();
          if (rss <= peakRss) return;
          peakRss = rss;
          atPeak = process.memoryUsage();
        }, 20)
      : null;
    for (const time of times) {
      await delay(Math.max(0, time - Date.now()));
      primary.push(snapshot());
    }
    if (sampler) clearInterval(sampler);
    return { primary, workers: await Promise.all(gathered), peakRss, atPeak };
  },
  /** Starts the client process: `perWorker` socket.io-client sockets connected to each worker. */
  async clients(options) {
    const child = fork(CLIENTS, [], { serialization: "json" });
    const ports = workers.map((w) => w.port);
    const ready = new Promise((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`the client process exited with ${code}`)));
    });
    child.send({ op: "connect", ports, ...options });
    await ready;
    return {
      run: (args) =>
        new Promise((resolve) => {
          child.once("message", resolve);
          child.send({ op: "run", ...args });
        }),
      close: () => child.kill("SIGKILL"),
    };
  },
};

const drive = (await import(spec.module)).drive;
let result;
try {
  result = await drive(ctx, spec.params);
} catch (error) {
  result = { error: String(error?.stack ?? error) };
}
// SIGTERM lets a profiled worker write its profile; SIGKILL otherwise, so that a backlog is not drained.
for (const worker of Object.values(cluster.workers)) worker.process.kill(process.env.PROFILE ? "SIGTERM" : "SIGKILL");
if (process.env.PROFILE) await delay(2_000);
process.send({ result }, () => process.exit(0));
