// Small numeric helpers shared by the scenarios: percentiles and the figures drawn from snapshots.

/** p50, p99 and max of a list of samples (ms), or nulls for an empty list. */
export function percentiles(samples) {
  if (samples.length === 0) return { p50: null, p99: null, max: null };
  const sorted = Float64Array.from(samples).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

const cpuMicros = (a, b) => b.cpu.user + b.cpu.system - (a.cpu.user + a.cpu.system);

/**
 * Figures of one measured window, from the snapshots at its start (index 0) and end (index 1).
 * `receivers`: the worker indexes whose `received` count says how many broadcasts got through;
 * `field`: which counter to use ("received" at the adapter, "delivered" to sink sockets).
 */
export function windowFigures(window, { receivers, field = "received", sender = 0 }) {
  const [p0, p1] = window.primary;
  const seconds = (p1.t - p0.t) / 1_000;
  const ok = window.workers.every(Boolean);
  if (!ok) return { error: "a worker never sent its snapshots" };
  const counts = receivers.map((i) => window.workers[i][1][field] - window.workers[i][0][field]);
  const rates = receivers.map((i, k) => counts[k] / ((window.workers[i][1].t - window.workers[i][0].t) / 1_000));
  const total = counts.reduce((a, b) => a + b, 0);
  const mean = total / Math.max(1, counts.length);
  const primaryCpu = cpuMicros(p0, p1);
  const workerCpu = window.workers.reduce((sum, snaps) => sum + cpuMicros(snaps[0], snaps[1]), 0);
  const s = window.workers[sender];
  return {
    seconds,
    perReceiver: rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length),
    minReceiver: Math.min(...rates),
    received: total,
    broadcasts: mean,
    sent: s[1].sent - s[0].sent,
    cpuPerMessage: (primaryCpu + workerCpu) / Math.max(1, mean),
    primaryCpuPerMessage: primaryCpu / Math.max(1, mean),
    cpuPerDelivery: (primaryCpu + workerCpu) / Math.max(1, total),
    cpuCores: (primaryCpu + workerCpu) / 1e6 / seconds,
    primaryPeakRss: Math.max(p1.maxRss, window.peakRss ?? 0),
    primaryRssGrowth: Math.max(window.peakRss ?? 0, p1.rss) - p0.rss,
    senderPeakRss: s[1].maxRss,
    senderRssGrowth: s[1].rss - s[0].rss,
    hub: p1.hub,
    // Ours drops what does not fit a slow worker's queue (see src/transports/ipc.ts); the official
    // adapter and the raw relay never drop: their queues grow instead.
    hubDropped: p1.hub && p0.hub ? p1.hub.messagesDropped - p0.hub.messagesDropped : 0,
    sentPerSecond: (s[1].sent - s[0].sent) / seconds,
  };
}

/**
 * Bytes a worker read for the broadcasts its adapter received in the window: on our data socket,
 * every byte read there in the window; on IPC, their count times the bytes per broadcast of a
 * message sampled in the window (see worker.mjs).
 */
export function bytesRead(window, index) {
  const snaps = window.workers[index];
  const received = snaps[1].received - snaps[0].received;
  // No broadcast received, no byte of one (the socket still carries heartbeats, as IPC does).
  if (received === 0) return 0;
  const socketBytes = (snaps[1].socketBytes ?? 0) - (snaps[0].socketBytes ?? 0);
  if (socketBytes > 0) return socketBytes;
  return received * snaps[1].bytesPerBroadcast;
}
