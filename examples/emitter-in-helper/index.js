// A job in a helper process: the primary forks it and attaches it to its hub; the job notifies
// one user's room on every worker, waits for the user's devices to acknowledge, lists them with
// fetchSockets(), and exits. It runs no Socket.IO server and needs no Redis.
//
//   node examples/emitter-in-helper
//
// The primary starts the workers, then a demo client (user "alice", on two devices), then the job,
// and stops everything once the job has exited. In your project, require("socket.io-ipc-adapter").

const cluster = require("node:cluster");
const { fork } = require("node:child_process");
const http = require("node:http");
const { join } = require("node:path");
const { Server } = require("socket.io");
const { createAdapter, setupPrimary } = require("../..");

const PORT = Number(process.env.PORT) || 3000;
const WORKERS = Number(process.env.WORKERS) || 2;

if (cluster.isPrimary) {
  const hub = setupPrimary();
  const workers = Array.from({ length: WORKERS }, () => cluster.fork());
  let listening = 0;
  cluster.on("listening", () => {
    if (++listening === WORKERS) start();
  });

  async function start() {
    console.log(`primary: ${WORKERS} workers on port ${PORT}`);
    const client = fork(join(__dirname, "client.js"), ["alice"], { env: { ...process.env, PORT: String(PORT) } });
    await new Promise((resolve) => client.once("message", resolve)); // "connected"

    // The job: any script that creates an Emitter. attach() right after fork(), before it says hello.
    const job = fork(join(__dirname, "job.js"), ["alice"]);
    hub.attach(job);
    job.on("exit", (code) => {
      console.log(`primary: the job exited with code ${code}; helpers attached: ${hub.stats().helpers}`);
      client.kill();
      for (const worker of workers) worker.kill();
    });
  }
} else {
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  io.adapter(createAdapter());
  io.on("connection", (socket) => {
    // A real application would authenticate the user; the demo trusts what the client says.
    const { user, device } = socket.handshake.auth;
    socket.data = { user, device, worker: cluster.worker.id };
    socket.join(`user:${user}`);
  });
  // Without sticky sessions, clients must use WebSocket only: each HTTP request may reach another worker.
  httpServer.listen(PORT);
}
