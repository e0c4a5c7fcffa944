// A ticker in the cluster primary: every second, the primary pushes the time to the clients of the
// room "clock", whichever worker holds them. No Redis, no extra process.
//
//   node examples/emitter-in-primary        then open http://localhost:3000
//                                           or run node examples/emitter-in-primary/client.js
//
// In your project, require("socket.io-ipc-adapter") instead of require("../..").

const cluster = require("node:cluster");
const { readFileSync } = require("node:fs");
const http = require("node:http");
const { join } = require("node:path");
const { Server } = require("socket.io");
const { Emitter, createAdapter, setupPrimary } = require("../..");

const PORT = Number(process.env.PORT) || 3000;
const WORKERS = Number(process.env.WORKERS) || 2;

if (cluster.isPrimary) {
  setupPrimary();
  for (let i = 0; i < WORKERS; i++) cluster.fork();

  const emitter = new Emitter();
  const ticker = setInterval(() => {
    emitter.to("clock").emit("time", new Date().toISOString());
  }, 1_000);

  console.log(`primary ${process.pid}: ${WORKERS} workers on http://localhost:${PORT}, ticking every second`);
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  function stop() {
    clearInterval(ticker);
    // kill() disconnects the worker, then sends it SIGTERM: open WebSocket connections cannot hold it.
    for (const worker of Object.values(cluster.workers)) worker.kill();
  }
} else {
  const page = readFileSync(join(__dirname, "index.html"));
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(page);
  });
  const io = new Server(httpServer);
  io.adapter(createAdapter());

  io.on("connection", (socket) => {
    socket.join("clock");
    socket.emit("hello", `you are on worker ${cluster.worker.id} (pid ${process.pid})`);
  });

  // Without sticky sessions, clients must use WebSocket only: each HTTP request may reach another worker.
  httpServer.listen(PORT);
}
