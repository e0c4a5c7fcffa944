// S3: room-targeted broadcasts. 8 workers; the room's only member (a sink socket, see
// lib/worker.mjs) is on worker 1; worker 0 sends io.to("room").emit() as fast as its IPC channel
// takes it. Measured: the member's throughput (packets written to the member), and what the
// broadcasts cost the workers that have no member: bytes they read from IPC and messages their
// adapter had to look at, per broadcast.
import { floodWindow } from "./broadcast.mjs";
import { isMain, runScenarios } from "./lib/runner.mjs";
import { bytesRead, windowFigures } from "./lib/stats.mjs";

export const name = "rooms";
export const url = import.meta.url;

export function groups(settings) {
  const workers = settings.WORKERS ?? 8;
  return settings.SERIALIZATION.map((serialization) => ({
    label: `${settings.PAYLOAD[0]} B, ${workers} workers, room on worker 1, ${serialization}`,
    workers,
    serialization,
    params: { size: settings.PAYLOAD[0], duration: settings.DURATION },
  }));
}

export async function drive(ctx, { size, duration }) {
  await ctx.workers[1].cmd("sink", { rooms: ["room"] });
  const window = await floodWindow(ctx, { size, duration, rooms: ["room"], members: [1] });
  const figures = windowFigures(window, { receivers: [1], field: "delivered" });
  const others = ctx.workers.map((w) => w.index).filter((i) => i > 1);
  const broadcasts = Math.max(1, figures.broadcasts);
  const wasted = others.map((i) => bytesRead(window, i)).reduce((a, b) => a + b, 0);
  const looked = others.map((i) => window.workers[i][1].received - window.workers[i][0].received);
  figures.wastedBytesPerBroadcast = wasted / broadcasts;
  figures.wastedMessagesPerBroadcast = looked.reduce((a, b) => a + b, 0) / broadcasts;
  figures.wastedBytes = wasted;
  return figures;
}

export function rows(group, results) {
  const pick = (key) =>
    Object.fromEntries(Object.entries(results).map(([adapter, r]) => [adapter, r.error ? "error" : r[key]]));
  const scenario = `S3 rooms ${group.label}`;
  return [
    { scenario, measure: "member throughput", unit: "/s", better: "higher", values: pick("perReceiver") },
    {
      scenario,
      measure: "bytes sent to workers with no member, per broadcast",
      unit: "B",
      better: "lower",
      values: pick("wastedBytesPerBroadcast"),
    },
    {
      scenario,
      measure: "copies handled by workers with no member, per broadcast",
      better: "lower",
      values: pick("wastedMessagesPerBroadcast"),
    },
    {
      scenario,
      measure: "CPU per broadcast, all processes",
      unit: "µs",
      better: "lower",
      values: pick("cpuPerMessage"),
    },
  ];
}

if (isMain(import.meta.url)) await runScenarios([{ name, url, groups, drive, rows }]);
