// The demo's primary: @socket.io/sticky in front, the hub of socket.io-ipc-adapter, N workers,
// and an Emitter that posts into the chat and pushes the hub's live stats to every page.
//
//   npm start      (PORT=3000, WORKERS=number of cores (at least 2), EMITTER_INTERVAL_MS=5000)

const cluster = require("node:cluster");
const http = require("node:http");
const { availableParallelism } = require("node:os");
const { join } = require("node:path");
const { setupMaster } = require("@socket.io/sticky");
const { Emitter, setupPrimary } = require("socket.io-ipc-adapter");

const PORT = Number(process.env.PORT ?? 3000);
const WORKERS = Math.max(2, Number(process.env.WORKERS) || availableParallelism());
const EMITTER_INTERVAL_MS = Number(process.env.EMITTER_INTERVAL_MS) || 5_000;
const STATS_INTERVAL_MS = 1_000;
const ROOM = "lobby";

const hub = setupPrimary();
const emitter = new Emitter();

// @socket.io/sticky hands each connection's first bytes to a worker as a Buffer: with the default
// "json" serialization they arrive as {type, data} and websocket upgrades fail.
cluster.setupPrimary({ exec: join(__dirname, "worker.js"), serialization: "advanced" });

// The primary owns the port and gives each connection to the worker that holds its session. It
// listens once every worker is ready: a connection handed to a worker that has not yet called
// setupWorker() would be lost.
const httpServer = http.createServer();
setupMaster(httpServer, { loadBalancingMethod: "least-connection" });

let stopping = false;
const timers = [];

let ready = 0;
function fork() {
  const worker = cluster.fork();
  worker.on("message", (message) => {
    if (message?.demo !== "ready") return;
    console.log(`worker ${worker.id} (pid ${worker.process.pid}) ready`);
    if (++ready === WORKERS) listen();
  });
}

cluster.on("exit", (worker, code, signal) => {
  if (stopping) return;
  // Kill one (kill <pid>) to watch serverCount() drop and a new worker join at once.
  console.log(`worker ${worker.id} exited (${signal ?? code}): starting another one`);
  fork();
});

for (let i = 0; i < WORKERS; i++) fork();

function listen() {
  httpServer.listen(PORT, () => {
    const { port } = httpServer.address();
    console.log(`demo: http://localhost:${port} (primary pid ${process.pid}, ${WORKERS} workers)`);
  });
}

// Every second: the hub's counters, and how many messages it routed since the last tick. The
// Emitter reaches the pages through the workers; volatile, as a missed tick is not worth a retry.
let last = { at: Date.now(), routed: 0 };
timers.push(
  setInterval(() => {
    const stats = hub.stats();
    const now = Date.now();
    const perSecond = ((stats.messagesRouted - last.routed) * 1_000) / (now - last.at);
    last = { at: now, routed: stats.messagesRouted };
    emitter.volatile.emit("hub:stats", { ...stats, perSecond: Math.round(perSecond * 10) / 10 });
  }, STATS_INTERVAL_MS),
);

// Every few seconds, the primary posts into the chat. serverSideEmit() reaches every worker, and
// each delivers to its own clients in the room, as a relayed chat message is.
let posts = 0;
timers.push(
  setInterval(() => {
    const { workers, messagesRouted } = hub.stats();
    emitter.serverSideEmit("chat:relay", {
      id: `primary-${++posts}`,
      room: ROOM,
      name: "Emitter",
      text: `post #${posts} from the primary: ${workers} workers, ${messagesRouted} messages routed so far`,
      from: "primary",
      at: Date.now(),
    });
  }, EMITTER_INTERVAL_MS),
);

// Ctrl-C reaches every process of the terminal's group; the primary alone decides the order.
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`primary: ${signal}, stopping ${Object.keys(cluster.workers).length} workers`);
  for (const timer of timers) clearInterval(timer);
  httpServer.close();
  await Promise.all(
    Object.values(cluster.workers).map(
      (worker) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => worker.process.kill("SIGKILL"), 5_000);
          worker.once("exit", () => resolve(clearTimeout(timer)));
          worker.process.kill("SIGTERM");
        }),
    ),
  );
  hub.close();
  console.log("primary: stopped");
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
