// S6: a slow worker. Worker 3 blocks its event loop 2 s in every 3 s; worker 0 broadcasts 100 B
// with io.emit as fast as it can for SLOW_DURATION seconds (20 by default), without looking at
// backpressure, as an application that cannot see it does. Measured: how much the primary's and
// the sender's memory grow, what the fast and the slow receivers got, and what the hub dropped.
import { isMain, mb, runScenarios } from "./lib/runner.mjs";
import { windowFigures } from "./lib/stats.mjs";

export const name = "slow-worker";
export const url = import.meta.url;

export function groups(settings) {
  const workers = Math.max(3, settings.WORKERS ?? 4);
  return settings.SERIALIZATION.map((serialization) => ({
    label: `${workers} workers, one blocked 2 s in 3, ${settings.SLOW_DURATION} s, ${serialization}`,
    workers,
    serialization,
    params: { size: 100, duration: settings.SLOW_DURATION },
  }));
}

export async function drive(ctx, { size, duration }) {
  const slow = ctx.workers.length - 1;
  const from = Date.now() + 500;
  const until = from + duration * 1_000;
  await ctx.workers[slow].cmd("block", { from, until, busyMs: 2_000, periodMs: 3_000 });
  await ctx.workers[0].cmd("flood", { from, until, size, paced: false });
  const window = await ctx.window([from, until]);
  const fast = ctx.workers.map((w) => w.index).filter((i) => i !== 0 && i !== slow);
  const figures = windowFigures(window, { receivers: fast });
  const s = window.workers[slow];
  figures.slowReceived = s[1].received - s[0].received;
  figures.fastReceived = figures.broadcasts;
  figures.stoppedAtCap = Boolean(window.workers[0][1].stoppedAtCap);
  figures.dropped = figures.hub?.messagesDropped ?? null;
  figures.senderDropped = window.workers[0][1].senderDropped - window.workers[0][0].senderDropped;
  figures.primaryAtPeak = window.atPeak;
  return figures;
}

export function rows(group, results) {
  const pick = (fn) =>
    Object.fromEntries(Object.entries(results).map(([adapter, r]) => [adapter, r.error ? "error" : fn(r)]));
  const scenario = `S6 slow worker, ${group.label}`;
  return [
    {
      scenario,
      measure: "primary RSS growth",
      unit: "MB",
      better: "lower",
      values: pick((r) => mb(r.primaryRssGrowth)),
    },
    { scenario, measure: "primary peak RSS", unit: "MB", better: "lower", values: pick((r) => mb(r.primaryPeakRss)) },
    { scenario, measure: "sender peak RSS", unit: "MB", better: "lower", values: pick((r) => mb(r.senderPeakRss)) },
    { scenario, measure: "broadcasts sent", better: "higher", values: pick((r) => r.sent) },
    { scenario, measure: "received by each fast worker", better: "higher", values: pick((r) => r.fastReceived) },
    { scenario, measure: "received by the slow worker", better: "higher", values: pick((r) => r.slowReceived) },
    {
      scenario,
      measure: "messages dropped by the hub (queue full)",
      better: "lower",
      values: pick((r) => r.hubDropped),
    },
    {
      scenario,
      measure: "messages dropped by the sender (its queue full)",
      better: "lower",
      values: pick((r) => r.senderDropped),
    },
  ];
}

if (isMain(import.meta.url)) await runScenarios([{ name, url, groups, drive, rows }]);
