// S4: end-to-end latency to real socket.io-client clients (200 by default, spread over the workers,
// in one client process). Worker 0 broadcasts a timestamp 100 times a second; each client records
// the delay at receipt (process.hrtime, the same monotonic clock in every process). Three windows in
// the same cluster:
// - light load: the probes alone;
// - cores busy (a control; BUSY processes, default 2, 0 skips it): the probes alone while that many
//   processes spin outside the cluster, so that the cores are taken as under the flood while the
//   adapter carries nothing more: what the scheduler alone does to the latency on this machine;
// - saturation: worker 1 also sends serverSideEmit("load", 100 B) as fast as every other worker
//   keeps up with, so that the hub and every worker are busy while the probes travel.
import { spawn } from "node:child_process";
import { flightWindow } from "./broadcast.mjs";
import { isMain, runScenarios } from "./lib/runner.mjs";

export const name = "latency";
export const url = import.meta.url;

export function groups(settings) {
  const workers = settings.WORKERS ?? 4;
  return settings.SERIALIZATION.map((serialization) => ({
    label: `${settings.CLIENTS} clients, ${settings.RATE} broadcasts/s, ${workers} workers, ${serialization}`,
    workers,
    serialization,
    params: { clients: settings.CLIENTS, rate: settings.RATE, duration: settings.DURATION, busy: settings.BUSY },
  }));
}

// Keeps one core busy; exits as soon as its parent is gone (it is then reparented), so that no
// spinner outlives a primary that crashed.
const SPIN =
  "const parent = process.ppid; for (;;) { const t = Date.now() + 50; while (Date.now() < t); if (process.ppid !== parent) process.exit(); }";

/** Starts `count` spinning processes; returns a function that kills them. */
function spin(count) {
  const children = Array.from({ length: count }, () => spawn(process.execPath, ["-e", SPIN], { stdio: "ignore" }));
  return () => {
    for (const child of children) child.kill("SIGKILL");
  };
}

async function measure(ctx, clients, { rate, duration, saturate = false, busy = 0 }) {
  const stop = spin(busy);
  try {
    return await measureProbes(ctx, clients, { rate, duration, saturate });
  } finally {
    stop();
  }
}

async function measureProbes(ctx, clients, { rate, duration, saturate }) {
  const from = Date.now() + 500;
  const t0 = from + 1_000;
  const t1 = t0 + duration * 1_000;
  if (saturate) {
    const others = ctx.workers.map((w) => w.index).filter((i) => i !== 1);
    await ctx.workers[1].cmd("flood", {
      from,
      until: t1,
      size: 100,
      kind: "ssemit",
      paced: true,
      window: flightWindow(100),
      progress: { workers: others, field: "serverEvents", mode: "min" },
    });
  }
  await ctx.workers[0].cmd("probe", { from, until: t1, rate });
  const [latency, window] = await Promise.all([
    clients.run({ from: t0, until: t1, grace: 3_000 }),
    ctx.window([t0, t1]),
  ]);
  const [s0, s1] = window.workers[0];
  const expected = (s1.sent - s0.sent) * clients.count;
  return { ...latency, expected, lost: expected > 0 ? Math.max(0, 1 - latency.received / expected) : null };
}

export async function drive(ctx, { clients: count, rate, duration, busy }) {
  const perWorker = Math.ceil(count / ctx.workers.length);
  const clients = await ctx.clients({ perWorker });
  clients.count = perWorker * ctx.workers.length;
  const light = await measure(ctx, clients, { rate, duration });
  let control = null;
  if (busy > 0) {
    await ctx.delay(1_000);
    control = await measure(ctx, clients, { rate, duration, busy });
  }
  await ctx.delay(1_000);
  const saturated = await measure(ctx, clients, { rate, duration, saturate: true });
  clients.close();
  return { light, control, saturated, clients: clients.count };
}

export function rows(group, results) {
  const pick = (fn) =>
    Object.fromEntries(Object.entries(results).map(([adapter, r]) => [adapter, r.error ? "error" : fn(r)]));
  const scenario = `S4 latency ${group.label}`;
  const busy = group.params.busy;
  const control =
    busy > 0
      ? [
          {
            scenario,
            measure: `p99, cores busy (${busy} spinning processes, probes only)`,
            unit: "ms",
            better: "lower",
            values: pick((r) => r.control.p99),
          },
          {
            scenario,
            measure: "p99 cores busy ÷ p99 light",
            better: "lower",
            values: pick((r) => r.control.p99 / r.light.p99),
          },
          {
            scenario,
            measure: "p99 saturated ÷ p99 cores busy (the adapter's own share)",
            better: "lower",
            values: pick((r) => r.saturated.p99 / r.control.p99),
          },
        ]
      : [];
  return [
    { scenario, measure: "p50, light load", unit: "ms", better: "lower", values: pick((r) => r.light.p50) },
    { scenario, measure: "p99, light load", unit: "ms", better: "lower", values: pick((r) => r.light.p99) },
    { scenario, measure: "p50, saturated", unit: "ms", better: "lower", values: pick((r) => r.saturated.p50) },
    { scenario, measure: "p99, saturated", unit: "ms", better: "lower", values: pick((r) => r.saturated.p99) },
    {
      scenario,
      measure: "p99 saturated ÷ p99 light",
      better: "lower",
      values: pick((r) => r.saturated.p99 / r.light.p99),
    },
    ...control,
    {
      scenario,
      measure: "probes not received within 3 s, saturated",
      unit: "%",
      better: "lower",
      values: pick((r) => 100 * (r.saturated.lost ?? 0)),
    },
  ];
}

if (isMain(import.meta.url)) await runScenarios([{ name, url, groups, drive, rows }]);
