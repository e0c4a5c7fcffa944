// The clients of the soak, in their own process (so that the primary's memory is the hub's): real
// socket.io-client sockets, connected to each worker, each in room "r0" or "r1". Each records the
// sequence numbers it receives per sender and stream; the primary does the accounting.

require("../test/fixtures/report-fatal");

const { performance } = require("node:perf_hooks");
const { io } = require("socket.io-client");

const now = () => performance.timeOrigin + performance.now();
/** key -> { worker, room, joinedAt, alive, streams: Map<"sender|stream", number[]> } */
const clients = new Map();
let nextClient = 0;
let received = 0;

async function connect({ worker, port, count }) {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const key = `c${nextClient++}`;
      const room = nextClient % 2 === 0 ? "r0" : "r1";
      const client = { worker, room, joinedAt: null, alive: true, streams: new Map() };
      clients.set(key, client);
      const socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], reconnection: false });
      client.socket = socket;
      socket.on("m", (m) => {
        received++;
        const id = `${m.s}|${m.st}`;
        let list = client.streams.get(id);
        if (!list) {
          list = [];
          client.streams.set(id, list);
        }
        list.push(m.q);
      });
      socket.on("ask", (callback) => callback("ok"));
      socket.on("disconnect", (reason) => {
        client.alive = false;
        client.disconnectReason = reason;
      });
      await new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      await new Promise((resolve) => socket.emit("join", room, resolve));
      client.joinedAt = now();
    }),
  );
}

/** Sorted unique sequence numbers as [from, to] ranges, and what was wrong with the order. */
function summarize(list) {
  const seen = new Set();
  let duplicates = 0;
  let outOfOrder = 0;
  let last = -1;
  for (const q of list) {
    if (seen.has(q)) duplicates++;
    else if (q < last) outOfOrder++;
    seen.add(q);
    last = Math.max(last, q);
  }
  const sorted = [...seen].sort((a, b) => a - b);
  const ranges = [];
  for (const q of sorted) {
    const range = ranges[ranges.length - 1];
    if (range && range[1] === q - 1) range[1] = q;
    else ranges.push([q, q]);
  }
  return { ranges, count: list.length, duplicates, outOfOrder };
}

process.on("message", async (message) => {
  switch (message?.soak) {
    case "connect":
      try {
        await connect(message);
        process.send({ soak: "connected", worker: message.worker });
      } catch (error) {
        process.send({ soak: "connected", worker: message.worker, error: String(error?.message ?? error) });
      }
      break;
    case "dead":
      for (const client of clients.values()) {
        if (client.worker === message.worker) {
          client.alive = false;
          client.socket.disconnect();
          client.streams.clear();
        }
      }
      break;
    case "received":
      process.send({ soak: "received", received });
      break;
    case "sample": {
      global.gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      process.send({ soak: "sample", id: "clients", rss, heapUsed, n: message.n });
      break;
    }
    case "report": {
      // Clients of the workers alive at the end; one of them that lost its connection is a failure.
      const live = new Set(message.live);
      const report = [];
      const disconnected = [];
      for (const [key, client] of clients) {
        if (!live.has(client.worker)) continue;
        if (!client.alive || client.joinedAt === null) {
          disconnected.push({ key, worker: client.worker, reason: client.disconnectReason ?? "never joined" });
          continue;
        }
        const streams = {};
        for (const [id, list] of client.streams) streams[id] = summarize(list);
        report.push({ key, worker: client.worker, room: client.room, joinedAt: client.joinedAt, streams });
      }
      for (const client of clients.values()) client.socket.disconnect();
      process.send({ soak: "report", clients: report, disconnected });
      break;
    }
  }
});
process.on("disconnect", () => process.exit(0));
process.send({ soak: "ready" });
