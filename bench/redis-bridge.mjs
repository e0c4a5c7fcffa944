// Two machines through Redis: each machine a node:cluster of WORKERS workers on socket.io-ipc-adapter
// with the Redis bridge, vs the same number of servers (2 x WORKERS), each on the official
// @socket.io/redis-streams-adapter. For each: Redis connections, what crosses Redis per broadcast,
// throughput and latency of broadcasts from one server to a client on every server.
//
//   npm run build && node bench/redis-bridge.mjs
//   WORKERS=4 MESSAGES=5000 RATE=1000 PAYLOAD=100 node bench/redis-bridge.mjs
//
// Needs redis-server (apt-get install redis-server). Everything runs on this machine, on loopback.
// One file plays every part: the orchestrator (no BENCH_ROLE), a machine's primary, a worker, a
// plain server on the streams adapter.
import { execFileSync, fork, spawn } from "node:child_process";
import cluster from "node:cluster";
import http from "node:http";
import { createServer } from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";

const FILE = fileURLToPath(import.meta.url);
const ROLE = process.env.BENCH_ROLE;
const settings = {
  WORKERS: Number(process.env.WORKERS ?? 2),
  MESSAGES: Number(process.env.MESSAGES ?? 3_000),
  RATE: Number(process.env.RATE ?? 500),
  PAYLOAD: Number(process.env.PAYLOAD ?? 100),
};

// ---------------------------------------------------------------- servers (machine, worker, streams)

/** A Socket.IO server that floods or paces broadcasts of `m` on command. */
async function serve(io, send) {
  const httpServer = http.createServer();
  io.attach(httpServer);
  const commands = {
    count: async () => io.of("/").adapter.serverCount(),
    flood: async ({ n, size }) => {
      const payload = "x".repeat(size);
      for (let i = 0; i < n; i++) {
        io.emit("m", i, Date.now(), payload);
        if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
      }
    },
    paced: async ({ n, rate, size }) => {
      const payload = "x".repeat(size);
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const due = start + (i * 1_000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        io.emit("m", i, performance.timeOrigin + performance.now(), payload);
      }
    },
  };
  process.on("message", async (message) => {
    if (message?.bench !== "command") return;
    const value = await commands[message.name](message.args ?? {});
    send({ bench: "result", id: message.id, value });
  });
  await new Promise((resolve) => httpServer.listen({ port: 0, host: "127.0.0.1", exclusive: true }, resolve));
  send({ bench: "ready", port: httpServer.address().port });
}

async function redisClient() {
  const { createClient } = await import("redis");
  const client = createClient({ url: process.env.REDIS_URL });
  client.on("error", () => {});
  await client.connect();
  return client;
}

async function runMachine() {
  const { setupPrimary } = (await import("../dist/index.js")).default;
  const countEachServer = { true: true, false: false }[process.env.COUNT_EACH_SERVER] ?? "auto";
  setupPrimary({ bridge: { redis: await redisClient(), countEachServer } });
  cluster.setupPrimary({ exec: FILE, execArgv: [] });
  const workers = [];
  const ports = await Promise.all(
    Array.from({ length: Number(process.env.WORKERS) }, () => {
      const worker = cluster.fork({ BENCH_ROLE: "worker" });
      workers.push(worker);
      return new Promise((resolve) => worker.on("message", (m) => m?.bench === "ready" && resolve(m.port)));
    }),
  );
  // Commands go to the worker `target`; their results come back through here.
  for (const worker of workers) worker.on("message", (m) => m?.bench === "result" && process.send(m));
  process.on("message", (m) => m?.bench === "command" && workers[m.target].send(m));
  process.send({ bench: "ready", ports });
}

async function runWorker() {
  process.on("disconnect", () => process.exit(0)); // the machine's primary is gone
  const { Server } = await import("socket.io");
  const { createAdapter } = (await import("../dist/index.js")).default;
  await serve(new Server({ adapter: createAdapter() }), (m) => process.send(m));
}

async function runStreams() {
  const { Server } = await import("socket.io");
  const { createAdapter } = await import("@socket.io/redis-streams-adapter");
  const io = new Server({ adapter: createAdapter(await redisClient()) });
  await serve(io, (m) => process.send(m.bench === "ready" ? { bench: "ready", ports: [m.port] } : m));
}

// ---------------------------------------------------------------- orchestrator

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

let nextId = 0;
/** A forked process: a machine (with several servers) or one plain server. */
async function start(role, env) {
  const child = fork(FILE, [], { env: { ...process.env, ...env, BENCH_ROLE: role }, execArgv: [] });
  const { ports } = await new Promise((resolve) => child.on("message", (m) => m?.bench === "ready" && resolve(m)));
  const command = (target, name, args) =>
    new Promise((resolve) => {
      const id = ++nextId;
      child.on("message", function reply(m) {
        if (m?.bench !== "result" || m.id !== id) return;
        child.off("message", reply);
        resolve(m.value);
      });
      child.send({ bench: "command", id, target, name, args });
    });
  return { child, ports, command };
}

async function redisInfo(redis, section) {
  const text = await redis.sendCommand(["INFO", section]);
  return Object.fromEntries(
    text
      .split("\r\n")
      .filter((line) => line.includes(":"))
      .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]),
  );
}

const calls = (stats, command) => Number(/calls=(\d+)/.exec(stats[`cmdstat_${command}`] ?? "")?.[1] ?? 0);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function scenario(name, redis, startServers) {
  await redis.sendCommand(["FLUSHALL"]);
  const { servers, stop } = await startServers();
  const { io: connect } = await import("socket.io-client");
  const targets = servers.flatMap((s) => s.ports.map((port, index) => ({ server: s, port, index })));
  const expected = targets.length;
  for (;;) {
    const counts = await Promise.all(targets.map((t) => t.server.command(t.index, "count")));
    if (counts.every((n) => n === expected)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const clients = await Promise.all(
    targets.map(
      ({ port }) =>
        new Promise((resolve) => {
          const socket = connect(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true });
          socket.on("connect", () => resolve(socket));
        }),
    ),
  );
  const connections = Number((await redisInfo(redis, "clients")).connected_clients) - 1; // less ours
  // Each reader gets every entry: what Redis sends per broadcast grows with their number.
  const readers = (await redis.sendCommand(["CLIENT", "LIST"])).split("\n").filter((l) => / cmd=xread/.test(l)).length;
  const sender = targets[0];
  const receive = (n, onMessage) =>
    Promise.all(
      clients.map(
        (socket) =>
          new Promise((resolve) => {
            let got = 0;
            const listener = (_seq, sentAt) => {
              onMessage?.(sentAt);
              if (++got === n) {
                socket.off("m", listener);
                resolve();
              }
            };
            socket.on("m", listener);
          }),
      ),
    );

  await redis.sendCommand(["CONFIG", "RESETSTAT"]);
  const flooded = receive(settings.MESSAGES);
  const started = performance.now();
  await sender.server.command(sender.index, "flood", { n: settings.MESSAGES, size: settings.PAYLOAD });
  await flooded;
  const seconds = (performance.now() - started) / 1_000;
  const commandstats = await redisInfo(redis, "commandstats");
  const stats = await redisInfo(redis, "stats");

  const latencies = [];
  const paced = receive(settings.MESSAGES, (sentAt) =>
    latencies.push(performance.timeOrigin + performance.now() - sentAt),
  );
  await sender.server.command(sender.index, "paced", {
    n: settings.MESSAGES,
    rate: settings.RATE,
    size: settings.PAYLOAD,
  });
  await paced;
  latencies.sort((a, b) => a - b);
  for (const socket of clients) socket.close();
  await stop();
  const perBroadcast = (n) => (n / settings.MESSAGES).toFixed(2);
  return {
    scenario: name,
    servers: expected,
    "Redis connections": connections,
    "stream readers": readers,
    "XADD / broadcast": perBroadcast(calls(commandstats, "xadd")),
    "XREAD / broadcast": perBroadcast(calls(commandstats, "xread")),
    "bytes out of Redis / broadcast": Math.round(Number(stats.total_net_output_bytes) / settings.MESSAGES),
    "broadcasts/s (flood)": Math.round(settings.MESSAGES / seconds),
    "p50 ms": percentile(latencies, 50).toFixed(2),
    "p99 ms": percentile(latencies, 99).toFixed(2),
  };
}

async function orchestrate() {
  try {
    execFileSync("sh", ["-c", "command -v redis-server"]);
  } catch {
    console.error("redis-server is not installed: apt-get install -y redis-server");
    process.exit(1);
  }
  console.log("settings:", { ...settings, MACHINES: 2 });
  const port = await freePort();
  const redisServer = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const redis = await redisClient();
  const kill = (processes) => async () => {
    await Promise.all(processes.map((p) => new Promise((resolve) => p.child.once("exit", resolve).kill("SIGKILL"))));
  };
  const machines = (countEachServer) => async () => {
    const env = { WORKERS: String(settings.WORKERS), COUNT_EACH_SERVER: String(countEachServer) };
    const servers = await Promise.all([start("machine", env), start("machine", env)]);
    return { servers, stop: kill(servers) };
  };
  const rows = [];
  try {
    rows.push(await scenario("ipc-adapter + bridge, countEachServer: true", redis, machines(true)));
    rows.push(await scenario('ipc-adapter + bridge, "auto" (no streams-adapter server)', redis, machines("auto")));
    rows.push(
      await scenario("redis-streams-adapter", redis, async () => {
        const servers = await Promise.all(Array.from({ length: 2 * settings.WORKERS }, () => start("streams", {})));
        return { servers, stop: kill(servers) };
      }),
    );
  } finally {
    redis.destroy();
    redisServer.kill("SIGKILL");
  }
  console.table(rows);
  const columns = Object.keys(rows[0]);
  console.log(`\n| ${columns.join(" | ")} |\n|${columns.map(() => " --- ").join("|")}|`);
  for (const row of rows) console.log(`| ${columns.map((c) => row[c]).join(" | ")} |`);
  const redisVersion = execFileSync("redis-server", ["--version"]).toString().split(" ")[2];
  const load = os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(" ");
  console.log(
    `\nNode ${process.version}, ${os.cpus()[0]?.model} x ${os.cpus().length}, redis-server ${redisVersion}, load ${load}`,
  );
  console.log(
    `WORKERS=${settings.WORKERS} MESSAGES=${settings.MESSAGES} RATE=${settings.RATE} PAYLOAD=${settings.PAYLOAD} node bench/redis-bridge.mjs`,
  );
  process.exit(0);
}

const main = { machine: runMachine, worker: runWorker, streams: runStreams }[ROLE] ?? orchestrate;
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
