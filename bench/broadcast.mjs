// S1: one worker broadcasts (io.emit) as fast as every other worker keeps up with (at most ~4 MiB
// in flight: see flood() in lib/worker.mjs), to every other worker.
// Counted at each receiving worker: BROADCAST messages handed to its adapter (no clients connected,
// so this is the cost of the cluster path plus the in-memory adapter's local delivery). CPU: the
// user+system time of every worker and of the primary over the window, divided by the broadcasts
// that reached a receiver. The raw relay is the reference: process.send through a hand-written
// relay in the primary, with no Socket.IO.
import { isMain, mb, runScenarios } from "./lib/runner.mjs";
import { bytesRead, windowFigures } from "./lib/stats.mjs";

export const name = "broadcast";
export const url = import.meta.url;

export function groups(settings) {
  const workers = settings.WORKERS ?? 4;
  return settings.SERIALIZATION.flatMap((serialization) =>
    settings.PAYLOAD.map((size) => ({
      label: `${size} B, ${workers} workers, ${serialization}`,
      workers,
      serialization,
      raw: true,
      params: { size, duration: settings.DURATION },
    })),
  );
}

/** Messages in flight at most: about 4 MiB of them, so that no adapter drops or queues without limit. */
export const flightWindow = (size) => Math.max(64, Math.floor((4 * 1024 * 1024) / (size + 300)));

/**
 * Runs one sender as fast as the receivers keep up (see `window` in lib/worker.mjs) and measures a
 * window of `duration` seconds after a 1 s warm-up. `members`: with rooms, the workers whose sink
 * sockets count deliveries (each broadcast reaches one of them); without, every other worker
 * counts each broadcast at its adapter.
 */
export async function floodWindow(ctx, { size, duration, rooms = [], members = null, sender = 0, kind }) {
  const from = Date.now() + 300 + 20 * ctx.workers.length;
  const t0 = from + 1_000;
  const t1 = t0 + duration * 1_000;
  const floodKind = kind ?? (ctx.spec.adapter === "raw" ? "raw" : "emit");
  const others = ctx.workers.map((w) => w.index).filter((i) => i !== sender);
  const progress = members
    ? { workers: members, field: "delivered", mode: "sum" }
    : { workers: others, field: floodKind === "ssemit" ? "serverEvents" : "received", mode: "min" };
  await ctx.workers[sender].cmd("flood", {
    from,
    until: t1,
    size,
    rooms,
    kind: floodKind,
    paced: true,
    window: flightWindow(size),
    progress,
  });
  return ctx.window([t0, t1]);
}

export async function drive(ctx, params) {
  const window = await floodWindow(ctx, params);
  const receivers = ctx.workers.map((w) => w.index).filter((i) => i !== 0);
  const figures = windowFigures(window, { receivers });
  const bytes = receivers.map((i) => bytesRead(window, i));
  figures.ipcBytesPerMessage = bytes.reduce((a, b) => a + b, 0) / Math.max(1, figures.received);
  figures.droppedPercent = (100 * figures.hubDropped) / Math.max(1, figures.sent * receivers.length);
  return figures;
}

export function rows(group, results) {
  const pick = (key, transform = (v) => v) =>
    Object.fromEntries(Object.entries(results).map(([adapter, r]) => [adapter, r.error ? "error" : transform(r[key])]));
  const scenario = `S1 broadcast ${group.label}`;
  return [
    { scenario, measure: "messages/s at each receiver", unit: "/s", better: "higher", values: pick("perReceiver") },
    { scenario, measure: "messages/s sent", unit: "/s", better: "higher", values: pick("sentPerSecond") },
    {
      scenario,
      measure: "deliveries dropped by the hub (receivers too slow)",
      unit: "%",
      better: "lower",
      values: pick("droppedPercent"),
    },
    { scenario, measure: "CPU per message, all processes", unit: "µs", better: "lower", values: pick("cpuPerMessage") },
    {
      scenario,
      measure: "CPU per message, primary",
      unit: "µs",
      better: "lower",
      values: pick("primaryCpuPerMessage"),
    },
    { scenario, measure: "primary peak RSS", unit: "MB", better: "lower", values: pick("primaryPeakRss", mb) },
    {
      scenario,
      measure: "bytes read per message at a receiver (IPC or data socket)",
      unit: "B",
      better: "lower",
      values: pick("ipcBytesPerMessage"),
    },
  ];
}

if (isMain(import.meta.url)) await runScenarios([{ name, url, groups, drive, rows }]);
