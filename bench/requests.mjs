// S5: request round trips, one at a time from worker 0: io.fetchSockets() (10 real clients on each
// worker, so that every answer carries sockets) and io.serverSideEmit("ping", ack), which every
// other worker answers. Measured at the requester, from the call to the settled answer.
import { isMain, runScenarios } from "./lib/runner.mjs";
import { percentiles } from "./lib/stats.mjs";

export const name = "requests";
export const url = import.meta.url;

export function groups(settings) {
  const workers = settings.WORKERS ?? 4;
  return settings.SERIALIZATION.map((serialization) => ({
    label: `${workers} workers, 10 clients each, ${serialization}`,
    workers,
    serialization,
    params: { duration: settings.DURATION, perWorker: 10 },
  }));
}

export async function drive(ctx, { duration, perWorker }) {
  const clients = await ctx.clients({ perWorker });
  const result = {};
  for (const kind of ["fetchSockets", "serverSideEmit"]) {
    const { samples, answers } = await ctx.workers[0].cmd("requests", { kind, ms: (duration * 1_000) / 2 });
    result[kind] = {
      ...percentiles(samples),
      count: samples.length,
      perSecond: samples.length / (duration / 2),
      answers,
    };
  }
  clients.close();
  return result;
}

export function rows(group, results) {
  const pick = (fn) =>
    Object.fromEntries(Object.entries(results).map(([adapter, r]) => [adapter, r.error ? "error" : fn(r)]));
  const scenario = `S5 requests ${group.label}`;
  return ["fetchSockets", "serverSideEmit"].flatMap((kind) => [
    { scenario, measure: `${kind} p50`, unit: "ms", better: "lower", values: pick((r) => r[kind].p50) },
    { scenario, measure: `${kind} p99`, unit: "ms", better: "lower", values: pick((r) => r[kind].p99) },
    {
      scenario,
      measure: `${kind} round trips/s`,
      unit: "/s",
      better: "higher",
      values: pick((r) => r[kind].perSecond),
    },
  ]);
}

if (isMain(import.meta.url)) await runScenarios([{ name, url, groups, drive, rows }]);
