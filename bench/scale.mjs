// S7: how the cost grows. (a) The S1 flood (100 B, io.emit from worker 0) with 2, 4, 8 and 16
// workers: throughput at each receiver and CPU per delivery (one broadcast reaching one worker).
// (b) 4 workers and 1, 10, 100 or 1000 rooms, each with one member (a sink socket) on a worker other
// than the sender, spread round-robin; the sender cycles through the rooms with io.to(room).emit.
// Cost should grow with the receiving workers at most linearly, and not with the number of rooms.
import { floodWindow } from "./broadcast.mjs";
import { isMain, runScenarios } from "./lib/runner.mjs";
import { windowFigures } from "./lib/stats.mjs";

export const name = "scale";
export const url = import.meta.url;

export function groups(settings) {
  const size = settings.PAYLOAD[0];
  const serialization = settings.SERIALIZATION[0];
  const byWorkers = settings.SCALE_WORKERS.map((workers) => ({
    label: `${workers} workers`,
    workers,
    serialization,
    params: { mode: "workers", size, duration: settings.DURATION },
  }));
  const byRooms = settings.SCALE_ROOMS.map((rooms) => ({
    label: `4 workers, ${rooms} rooms`,
    workers: 4,
    serialization,
    params: { mode: "rooms", rooms, size, duration: settings.DURATION },
  }));
  return [...byWorkers, ...byRooms];
}

export async function drive(ctx, { mode, rooms: roomCount, size, duration }) {
  const others = ctx.workers.map((w) => w.index).filter((i) => i !== 0);
  if (mode === "workers") {
    const window = await floodWindow(ctx, { size, duration });
    return windowFigures(window, { receivers: others });
  }
  const rooms = Array.from({ length: roomCount }, (_, r) => `room-${r}`);
  const members = [];
  for (const index of others) {
    const mine = rooms.filter((_, r) => others[r % others.length] === index);
    if (mine.length === 0) continue;
    await ctx.workers[index].cmd("sink", { rooms: mine });
    members.push(index);
  }
  const window = await floodWindow(ctx, { size, duration, rooms, members });
  const figures = windowFigures(window, { receivers: others, field: "delivered" });
  // Every broadcast reaches exactly one member: the sum over the workers is the broadcast count.
  figures.deliveredPerSecond = figures.received / figures.seconds;
  figures.cpuPerBroadcast = figures.cpuPerDelivery;
  return figures;
}

export function rows(group, results) {
  const pick = (fn) =>
    Object.fromEntries(Object.entries(results).map(([adapter, r]) => [adapter, r.error ? "error" : fn(r)]));
  const scenario = `S7 scale, ${group.label}`;
  if (group.params.mode === "workers") {
    return [
      {
        scenario,
        measure: "messages/s at each receiver",
        unit: "/s",
        better: "higher",
        values: pick((r) => r.perReceiver),
      },
      { scenario, measure: "CPU per delivery", unit: "µs", better: "lower", values: pick((r) => r.cpuPerDelivery) },
    ];
  }
  return [
    {
      scenario,
      measure: "room broadcasts delivered/s",
      unit: "/s",
      better: "higher",
      values: pick((r) => r.deliveredPerSecond),
    },
    { scenario, measure: "CPU per broadcast", unit: "µs", better: "lower", values: pick((r) => r.cpuPerBroadcast) },
  ];
}

if (isMain(import.meta.url)) await runScenarios([{ name, url, groups, drive, rows }]);
