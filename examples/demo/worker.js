// A demo worker: serves the page, relays the chat to every worker, and answers the page's
// questions about the cluster. It never listens: @socket.io/sticky passes connections in.

const cluster = require("node:cluster");
const { readFileSync } = require("node:fs");
const http = require("node:http");
const { join } = require("node:path");
const { setupWorker } = require("@socket.io/sticky");
const { Server } = require("socket.io");
const { createAdapter } = require("socket.io-ipc-adapter");

const WORKER = `worker ${cluster.worker.id}`;
const MAX_TEXT = 500;
const MAX_NAME = 40;

const FILES = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
  "/favicon.svg": ["favicon.svg", "image/svg+xml"],
};
const files = new Map(
  Object.entries(FILES).map(([path, [name, type]]) => [path, [readFileSync(join(__dirname, "public", name)), type]]),
);

// Socket.IO answers /socket.io/ (the client script included) and passes every other request here.
const httpServer = http.createServer((req, res) => {
  const file = files.get(new URL(req.url, "http://localhost").pathname);
  if (!file || req.method !== "GET") {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  res.writeHead(200, { "content-type": file[1], "cache-control": "no-store", "x-served-by": WORKER }).end(file[0]);
});

const io = new Server(httpServer);
io.adapter(createAdapter());
setupWorker(io);

function roomOf(value) {
  return typeof value === "string" && /^[\w-]{1,32}$/.test(value) ? value : "lobby";
}

function clip(value, max) {
  return typeof value === "string" ? value.trim().slice(0, max) : "";
}

// Every worker delivers a chat message to its own clients, and says so: `via` is this worker.
function deliver(message) {
  io.local.to(message.room).emit("chat", { ...message, via: WORKER });
}

// The page's side panel: the sockets of every worker (fetchSockets() asks them all through the
// hub), the workers that answer serverSideEmit, and serverCount().
async function overview() {
  const roster = new Promise((resolve) => io.serverSideEmit("roster", (_error, labels) => resolve(labels ?? [])));
  const [sockets, servers, others] = await Promise.all([io.fetchSockets(), io.of("/").adapter.serverCount(), roster]);
  const clients = Object.fromEntries([WORKER, ...others].map((label) => [label, 0]));
  for (const socket of sockets) clients[socket.data.worker] = (clients[socket.data.worker] ?? 0) + 1;
  return { servers, clients, answeredBy: WORKER };
}

io.on("connection", (socket) => {
  const room = roomOf(socket.handshake.query.room);
  socket.data.worker = WORKER;
  socket.data.room = room;
  socket.join(room);
  socket.emit("welcome", { worker: WORKER, room, id: socket.id });
  io.emit("presence");

  socket.on("chat", (input, ack) => {
    const text = clip(input?.text, MAX_TEXT);
    if (!text) return typeof ack === "function" && ack({ ok: false, error: "empty message" });
    const message = {
      id: `${socket.id}-${Date.now()}`,
      room,
      name: clip(input?.name, MAX_NAME) || "anonymous",
      text,
      from: WORKER,
      at: Date.now(),
    };
    io.serverSideEmit("chat:relay", message);
    deliver(message);
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("overview", async (ack) => {
    if (typeof ack === "function") ack(await overview());
  });

  socket.on("disconnect", () => io.emit("presence"));
});

io.on("chat:relay", deliver);
io.on("roster", (ack) => ack(WORKER));

process.send({ demo: "ready" });

async function stop() {
  await io.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("disconnect", stop);
// The primary stops the workers on Ctrl-C; dying here first would look like a crash to it.
process.on("SIGINT", () => {});
