/**
 * The churn soak (`npm run soak`, not part of `npm test`): mixed traffic on a real cluster while a
 * worker is SIGKILLed and restarted every SOAK_KILL_EVERY seconds. Exits 1 when a message to a
 * client of a live worker is lost, duplicated, out of order or misdelivered, when a request fails,
 * when an error goes unhandled in any process, or when memory trends upward.
 *
 * Processes: this primary (the hub, and the accounting), SOAK_WORKERS workers (scripts/soak-worker.js;
 * the first SOAK_STABLE are never killed, the others are killed in turn), a helper with an Emitter
 * (scripts/soak-helper.js), and the clients (scripts/soak-clients.js, in their own process so that
 * the primary's memory is the hub's).
 *
 * Traffic: each worker and the helper ("senders") broadcast numbered messages `m` to "all", "r0"
 * and "r1" at SOAK_RATE messages per second per stream, and make a request every SOAK_REQUEST_EVERY
 * ms: fetchSockets, serverSideEmit with an ack, a broadcast with acks, or socketsJoin + socketsLeave.
 *
 * What counts (the definition of "lost"):
 * - Only clients connected to a worker alive at the end count. Clients of a worker that died are
 *   not counted at all, whatever they received.
 * - A counted client C expects message q of sender S on stream st when st is "all" or C's room, and
 *   S sent q at or after the moment C's join was acknowledged (senders stamp each message).
 * - For a sender alive at the end: every message it sent. For a sender that died: every message the
 *   primary knows it sent (its send log reaches the primary on the same IPC channel as its
 *   broadcasts, after them, so those reached the hub), and every later one that some counted client
 *   received (it reached the hub too); messages still in the dying sender's pipe reached nobody and
 *   are not expected.
 * - lost = expected and never received; duplicated = received more than once; out of order =
 *   received after a higher number of the same sender and stream; misdelivered = received by a
 *   client outside the stream's room.
 */
import { type ChildProcess, fork } from "node:child_process";
import cluster, { type Worker } from "node:cluster";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setupPrimary } from "..";

const number = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const settings = {
  duration: number("SOAK_DURATION", 180),
  workers: number("SOAK_WORKERS", 4),
  stable: number("SOAK_STABLE", 2),
  killEvery: number("SOAK_KILL_EVERY", 10),
  rate: number("SOAK_RATE", 10),
  clientsPerWorker: number("SOAK_CLIENTS", 3),
  requestEvery: number("SOAK_REQUEST_EVERY", 250),
  sampleEvery: number("SOAK_SAMPLE_EVERY", 5),
  requestsTimeout: 10_000,
  serialization: (process.env.SOAK_SERIALIZATION ?? "json") as "json" | "advanced",
};
const STREAMS = ["all", "r0", "r1"] as const;
const MiB = 1024 * 1024;
/** Samples taken before this are warm-up (JIT, heap growth to its working size) and not judged. */
const WARM_UP = Math.min(20, settings.duration / 6);
/**
 * The tolerance on memory, mean of the last third against the first third:
 * - heap used after a full GC: +10 % + 2 MiB. In steady state it moves by less than 0.3 MiB from one
 *   sample to the next (7 MiB in the primary, measured); the hub routes ~600 messages a second at
 *   the default traffic, so a leak of 20 bytes per routed message (~1.3 MiB a minute) fails a
 *   3-minute run, whose thirds are about 2 minutes apart.
 * - RSS: +10 % + 16 MiB. RSS also counts pages that V8 and malloc keep after a GC, and V8's young
 *   generation grows its semi-spaces (up to 16 MiB) under allocation pressure: not a leak.
 */
const HEAP_TOLERANCE = { ratio: 1.1, bytes: 2 * MiB };
const RSS_TOLERANCE = { ratio: 1.1, bytes: 16 * MiB };

const now = () => performance.timeOrigin + performance.now();
const ignore = () => {};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RequestStat {
  started: number;
  ok: number;
  errors: number;
  maxMs: number;
  firstErrors: string[];
}
interface Sender {
  times: Record<string, number[]>;
  lastFlushAt: number;
  dead: boolean;
  requests: Record<string, RequestStat> | null;
}
interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
}
interface Slot {
  index: number;
  incarnation: number;
  id: string;
  worker: Worker | null;
}

const senders = new Map<string, Sender>();
const samples = new Map<string, Sample[]>();
const problems: string[] = [];
let unhandled = 0;
let kills = 0;
const started = now();

function sender(id: string): Sender {
  let s = senders.get(id);
  if (!s) {
    s = { times: Object.fromEntries(STREAMS.map((st) => [st, []])), lastFlushAt: 0, dead: false, requests: null };
    senders.set(id, s);
  }
  return s;
}

/** The messages every child sends the primary: send logs, samples, fatal errors. */
function onChildMessage(message: any): void {
  if (message?.test === "fatal") {
    unhandled++;
    problems.push(`${message.kind} in pid ${message.pid}: ${message.message}`);
  } else if (message?.soak === "sent") {
    const s = sender(message.id);
    for (const st of STREAMS) for (const t of message.times[st]) s.times[st].push(t);
    s.lastFlushAt = message.at;
  } else if (message?.soak === "sample") {
    let list = samples.get(message.id);
    if (!list) {
      list = [];
      samples.set(message.id, list);
    }
    list.push({ t: (now() - started) / 1000, rss: message.rss, heapUsed: message.heapUsed });
  } else if (message?.soak === "stopped") {
    sender(message.id).requests = message.requests;
    if (message.pending > 0) problems.push(`${message.id}: ${message.pending} requests never settled`);
  }
}

function nextMessage(child: Worker | ChildProcess, match: (m: any) => boolean, ms: number, what: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off("message", listener);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const listener = (message: any) => {
      if (!match(message)) return;
      clearTimeout(timer);
      child.off("message", listener);
      resolve(message);
    };
    child.on("message", listener);
  });
}

process.on("uncaughtException", (error) => {
  unhandled++;
  problems.push(`uncaughtException in the primary: ${error.stack}`);
});
process.on("unhandledRejection", (reason) => {
  unhandled++;
  problems.push(`unhandledRejection in the primary: ${(reason as Error)?.stack ?? String(reason)}`);
});

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `soak: ${settings.duration} s, ${settings.workers} workers (${settings.stable} never killed), one killed and restarted every ${settings.killEvery} s, ${settings.clientsPerWorker} clients per worker, ${settings.rate} messages/s per sender and stream, a request every ${settings.requestEvery} ms per sender, serialization ${settings.serialization}`,
  );
  console.log(
    `      Node ${process.version}, ${cpus().length} × ${cpu}; SOAK_DURATION=${settings.duration} npm run soak`,
  );
  global.gc?.();

  const hub = setupPrimary();
  const env = { SOAK_SETTINGS: JSON.stringify(settings) };
  cluster.setupPrimary({
    exec: join(__dirname, "soak-worker.js"),
    serialization: settings.serialization,
    execArgv: ["--expose-gc"],
  });

  let stopping = false;
  const clients = fork(join(__dirname, "soak-clients.js"), [], { execArgv: ["--expose-gc"] });
  clients.on("message", onChildMessage);
  clients.on("exit", (code) => {
    if (!stopping) problems.push(`the clients process exited (${code})`);
  });
  await nextMessage(clients, (m) => m?.soak === "ready", 30_000, "the clients process");

  const slots: Slot[] = Array.from({ length: settings.workers }, (_, index) => ({
    index,
    incarnation: 0,
    id: "",
    worker: null,
  }));

  async function start(slot: Slot): Promise<void> {
    slot.incarnation++;
    slot.id = `w${slot.index}.${slot.incarnation}`;
    const id = slot.id;
    const worker = cluster.fork({ ...env, SOAK_ID: id });
    slot.worker = worker;
    sender(id);
    worker.on("message", onChildMessage);
    worker.on("exit", (code, signal) => {
      if (!stopping && !worker.process.killed) problems.push(`${id} exited unexpectedly (${code ?? signal})`);
    });
    const ready = await nextMessage(worker, (m) => m?.soak === "ready", 30_000, `${id} to listen`);
    clients.send({ soak: "connect", worker: id, port: ready.port, count: settings.clientsPerWorker });
    const connected = await nextMessage(clients, (m) => m?.soak === "connected" && m.worker === id, 30_000, "clients");
    if (connected.error) problems.push(`clients of ${id} could not connect: ${connected.error}`);
  }

  for (const slot of slots) await start(slot);
  const helper = fork(join(__dirname, "soak-helper.js"), [], {
    execArgv: ["--expose-gc"],
    serialization: settings.serialization,
    env: { ...process.env, ...env },
  });
  hub.attach(helper);
  helper.on("message", onChildMessage);
  helper.on("exit", (code) => {
    if (!stopping) problems.push(`the helper exited (${code})`);
  });
  await nextMessage(helper, (m) => m?.soak === "ready", 30_000, "the helper");
  console.log(
    `soak: ${settings.workers} workers, the helper and ${settings.workers * settings.clientsPerWorker} clients up`,
  );

  // Memory, every sampleEvery seconds, after a full GC in every process.
  let n = 0;
  const sampler = setInterval(() => {
    n++;
    global.gc?.();
    const { rss, heapUsed } = process.memoryUsage();
    onChildMessage({ soak: "sample", id: "primary", rss, heapUsed });
    // A worker may die between the check and the write: the callback absorbs the EPIPE.
    for (const slot of slots) if (slot.worker?.isConnected()) slot.worker.send({ soak: "sample", n }, ignore);
    helper.send({ soak: "sample", n }, ignore);
    clients.send({ soak: "sample", n }, ignore);
  }, settings.sampleEvery * 1000);

  // The churn: kill the next worker that is not stable, restart it at once.
  const churn = Array.from({ length: settings.workers - settings.stable }, (_, i) => slots[settings.stable + i]);
  const end = started + settings.duration * 1000;
  let turn = 0;
  while (churn.length > 0 && now() + settings.killEvery * 1000 < end) {
    await sleep(settings.killEvery * 1000);
    const slot = churn[turn++ % churn.length];
    const victim = slot.worker!;
    const exited = new Promise((resolve) => victim.once("exit", resolve));
    victim.process.kill("SIGKILL");
    kills++;
    sender(slot.id).dead = true;
    clients.send({ soak: "dead", worker: slot.id });
    await exited;
    await start(slot);
    const elapsed = Math.round((now() - started) / 1000);
    console.log(`soak: ${elapsed} s: killed and restarted ${slot.id.replace(/\.\d+$/, "")} (${kills} kills)`);
  }
  while (now() < end) await sleep(Math.min(1000, end - now()));

  // Stop the traffic, let every request settle, then let the last messages arrive.
  const live = [...slots.map((slot) => slot.worker!), helper];
  const stoppedAll = live.map((child) => nextMessage(child, (m) => m?.soak === "stopped", 60_000, "stopped"));
  for (const child of live) child.send({ soak: "stop" });
  await Promise.all(stoppedAll);
  let last = -1;
  for (let stable = 0; stable < 3; ) {
    await sleep(500);
    clients.send({ soak: "received" });
    const { received } = await nextMessage(clients, (m) => m?.soak === "received", 10_000, "counts");
    stable = received === last ? stable + 1 : 0;
    last = received;
  }
  clearInterval(sampler);
  const liveIds = slots.map((slot) => slot.id);
  clients.send({ soak: "report", live: liveIds });
  const report = await nextMessage(clients, (m) => m?.soak === "report", 60_000, "the clients' report");

  stopping = true;
  for (const slot of slots) slot.worker?.process.kill("SIGTERM");
  helper.kill("SIGTERM");
  clients.disconnect();
  const hubStats = hub.stats();
  hub.close();

  const ok = account(report, hubStats);
  process.exit(ok ? 0 : 1);
}

interface ClientReport {
  key: string;
  worker: string;
  room: string;
  joinedAt: number;
  streams: Record<string, { ranges: [number, number][]; count: number; duplicates: number; outOfOrder: number }>;
}

function account(
  report: { clients: ClientReport[]; disconnected: { key: string; worker: string; reason: string }[] },
  hubStats: Record<string, number>,
): boolean {
  let sent = 0;
  for (const s of senders.values()) for (const st of STREAMS) sent += s.times[st].length;
  // The highest number of each sender's stream that any counted client received.
  const maxReceived = new Map<string, number>();
  for (const client of report.clients) {
    for (const [key, summary] of Object.entries(client.streams)) {
      const top = summary.ranges[summary.ranges.length - 1]?.[1] ?? -1;
      maxReceived.set(key, Math.max(maxReceived.get(key) ?? -1, top));
    }
  }
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let misdelivered = 0;
  const lossExamples: string[] = [];
  for (const client of report.clients) {
    for (const [id, s] of senders) {
      for (const st of STREAMS) {
        const key = `${id}|${st}`;
        const summary = client.streams[key];
        if (st !== "all" && st !== client.room) {
          misdelivered += summary?.count ?? 0;
          continue;
        }
        duplicated += summary?.duplicates ?? 0;
        outOfOrder += summary?.outOfOrder ?? 0;
        const times = s.times[st];
        // Sent at or after the join was acknowledged (times increase with the number).
        let first = 0;
        while (first < times.length && times[first] < client.joinedAt) first++;
        let upTo = times.length - 1;
        if (s.dead && client.joinedAt <= s.lastFlushAt) upTo = Math.max(upTo, maxReceived.get(key) ?? -1);
        if (upTo < first) continue;
        const want = upTo - first + 1;
        let got = 0;
        for (const [from, to] of summary?.ranges ?? [])
          got += Math.max(0, Math.min(to, upTo) - Math.max(from, first) + 1);
        expected += want;
        delivered += got;
        lost += want - got;
        if (want > got && lossExamples.length < 5) {
          lossExamples.push(
            `${client.key} (on ${client.worker}) missed ${want - got} of ${id} to ${st} in ${first}..${upTo}`,
          );
        }
      }
    }
  }

  const requests: Record<string, RequestStat> = {};
  for (const s of senders.values()) {
    for (const [kind, stat] of Object.entries(s.requests ?? {})) {
      requests[kind] ??= { started: 0, ok: 0, errors: 0, maxMs: 0, firstErrors: [] };
      const total = requests[kind];
      total.started += stat.started;
      total.ok += stat.ok;
      total.errors += stat.errors;
      total.maxMs = Math.max(total.maxMs, stat.maxMs);
      total.firstErrors.push(...stat.firstErrors.slice(0, 3 - total.firstErrors.length));
    }
  }
  const requestErrors = Object.values(requests).reduce((sum, r) => sum + r.errors, 0);

  console.log("");
  console.log(`soak: ${kills} workers killed and restarted in ${Math.round((now() - started) / 1000)} s`);
  console.log(
    `messages: sent ${sent}; to the ${report.clients.length} clients of live workers: expected ${expected}, delivered ${delivered}, lost ${lost}, duplicated ${duplicated}, out of order ${outOfOrder}, misdelivered ${misdelivered}`,
  );
  for (const example of lossExamples) console.log(`  ${example}`);
  if (report.disconnected.length > 0) {
    console.log(`clients of live workers that lost their connection: ${report.disconnected.length}`);
    for (const d of report.disconnected.slice(0, 5)) console.log(`  ${d.key} on ${d.worker}: ${d.reason}`);
  }
  console.log("requests (live senders at the end, and the killed ones up to their last report):");
  for (const [kind, r] of Object.entries(requests)) {
    console.log(
      `  ${kind.padEnd(15)} ${String(r.started).padStart(6)} started, ${String(r.ok).padStart(6)} ok, ${r.errors} errors, slowest ${r.maxMs.toFixed(0)} ms${r.firstErrors.length ? ` (${r.firstErrors.join("; ")})` : ""}`,
    );
  }
  console.log(
    `hub: ${hubStats.messagesRouted} messages routed, ${hubStats.messagesDropped} dropped (to members that left), ${hubStats.messagesRejected} rejected, ${hubStats.messagesTooLarge} too large`,
  );
  console.log(`unhandled errors: ${unhandled}`);
  const memoryOk = reportMemory();
  for (const problem of problems) console.log(`problem: ${problem}`);

  const failures = [
    lost > 0 && "messages lost",
    duplicated > 0 && "messages duplicated",
    outOfOrder > 0 && "messages out of order",
    misdelivered > 0 && "messages misdelivered",
    expected === 0 && "nothing was expected: the soak did not run",
    report.disconnected.length > 0 && "clients of live workers disconnected",
    requestErrors > 0 && "requests failed",
    unhandled > 0 && "unhandled errors",
    problems.length > 0 && "problems",
    !memoryOk && "memory grew",
  ].filter(Boolean);
  console.log(failures.length === 0 ? "soak: PASS" : `soak: FAIL (${failures.join(", ")})`);
  return failures.length === 0;
}

/** Prints memory over time and judges the trend of the processes that live through the run. */
function reportMemory(): boolean {
  const judged = ["primary", ...Array.from({ length: settings.stable }, (_, i) => `w${i}.1`), "helper"];
  const shown = [...judged, "clients"];
  console.log(`memory after a full GC, MiB (rss / heapUsed), every ${settings.sampleEvery} s:`);
  console.log(`  ${"t (s)".padStart(6)}  ${shown.map((id) => id.padStart(15)).join(" ")}`);
  const rows = Math.max(...shown.map((id) => samples.get(id)?.length ?? 0));
  const every = Math.max(1, Math.round(rows / 20));
  for (let i = 0; i < rows; i += every) {
    const t = samples.get("primary")?.[i]?.t;
    const cells = shown.map((id) => {
      const s = samples.get(id)?.[i];
      return (s ? `${(s.rss / MiB).toFixed(0)} / ${(s.heapUsed / MiB).toFixed(1)}` : "-").padStart(15);
    });
    console.log(`  ${(t ?? 0).toFixed(0).padStart(6)}  ${cells.join(" ")}`);
  }
  let ok = true;
  console.log(
    `trend (mean of the last third vs the first third, after ${WARM_UP.toFixed(0)} s of warm-up; limits: heap ×${HEAP_TOLERANCE.ratio} + ${HEAP_TOLERANCE.bytes / MiB} MiB, rss ×${RSS_TOLERANCE.ratio} + ${RSS_TOLERANCE.bytes / MiB} MiB):`,
  );
  for (const id of judged) {
    const list = (samples.get(id) ?? []).filter((s) => s.t >= WARM_UP);
    if (list.length < 6) {
      console.log(`  ${id}: too few samples (${list.length})`);
      ok = false;
      continue;
    }
    const third = Math.floor(list.length / 3);
    const mean = (part: Sample[], field: "rss" | "heapUsed") =>
      part.reduce((sum, s) => sum + s[field], 0) / part.length;
    const verdicts = (["heapUsed", "rss"] as const).map((field) => {
      const first = mean(list.slice(0, third), field);
      const last = mean(list.slice(-third), field);
      const tolerance = field === "rss" ? RSS_TOLERANCE : HEAP_TOLERANCE;
      const limit = first * tolerance.ratio + tolerance.bytes;
      const good = last <= limit;
      ok &&= good;
      const change = ((last / first - 1) * 100).toFixed(1);
      return `${field} ${(first / MiB).toFixed(1)} -> ${(last / MiB).toFixed(1)} MiB (${change} %, limit ${(limit / MiB).toFixed(1)})${good ? "" : " GREW"}`;
    });
    console.log(`  ${id.padEnd(8)} ${verdicts.join("; ")}`);
  }
  return ok;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
