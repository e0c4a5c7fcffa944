// A Socket.IO server on every core: a node:cluster primary with @socket.io/sticky in front and the
// hub of socket.io-ipc-adapter, and workers that share rooms and broadcasts through it.
//
//   node examples/cluster/server.js        (PORT=3000, WORKERS=number of cores, at least 2)
//   node examples/cluster/client.js        (in another terminal: polling, websocket and upgrade)

const cluster = require("node:cluster");
const http = require("node:http");
const { availableParallelism } = require("node:os");
const { setupMaster, setupWorker } = require("@socket.io/sticky");
const { Server } = require("socket.io");
const { createAdapter, setupPrimary } = require("socket.io-ipc-adapter");

const PORT = Number(process.env.PORT ?? 3000);
const WORKERS = Number(process.env.WORKERS) || Math.max(2, availableParallelism());

if (cluster.isPrimary) {
  const hub = setupPrimary();
  // @socket.io/sticky hands each connection's first bytes to a worker as a Buffer: with the default
  // "json" serialization they arrive as {type, data} and websocket upgrades fail.
  cluster.setupPrimary({ serialization: "advanced" });

  // The primary owns the port and gives each connection to the worker that holds its session. It
  // listens once every worker is ready: a connection handed to a worker that has not yet called
  // setupWorker() would be lost.
  const httpServer = http.createServer();
  setupMaster(httpServer, { loadBalancingMethod: "least-connection" });
  let ready = 0;
  cluster.on("message", (_worker, message) => {
    if (message !== "example:ready" || ++ready !== WORKERS) return;
    httpServer.listen(PORT, () => {
      console.log(`primary ${process.pid}: http://localhost:${httpServer.address().port} with ${WORKERS} workers`);
    });
  });

  for (let i = 0; i < WORKERS; i++) cluster.fork();

  let stopping = false;
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    console.log(`worker ${worker.id} exited (${signal ?? code}): starting another one`);
    cluster.fork();
  });

  // Ctrl-C reaches every process of the terminal's group; the primary alone decides the order.
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    console.log(`primary: ${signal}, stopping ${Object.keys(cluster.workers).length} workers`);
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
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} else {
  // No listen() here: @socket.io/sticky passes the connections in from the primary.
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  io.adapter(createAdapter());
  setupWorker(io);

  const worker = `worker ${cluster.worker.id}`;
  io.on("connection", (socket) => {
    socket.data.worker = worker;
    socket.emit("welcome", { worker, transport: socket.conn.transport.name });
    socket.on("shout", (text) => io.emit("shouted", { text, from: worker }));
    // The answer lists the sockets of every worker: fetchSockets() goes through the hub.
    socket.on("census", async (callback) => {
      const sockets = await io.fetchSockets();
      callback({ servers: await io.of("/").adapter.serverCount(), sockets: sockets.map((s) => s.data.worker) });
    });
  });

  const stop = async () => {
    await io.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("disconnect", stop);
  // The primary stops the workers on Ctrl-C; dying here first would look like a crash to it.
  process.on("SIGINT", () => {});
  process.send("example:ready");
}
