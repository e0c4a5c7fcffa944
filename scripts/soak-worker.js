// A worker of the soak (scripts/soak.ts): a Socket.IO server that broadcasts numbered messages to
// everyone and to rooms "r0" and "r1", makes requests of every kind, and reports to the primary.

require("../test/fixtures/report-fatal");

const http = require("node:http");
const { performance } = require("node:perf_hooks");
const { Server } = require("socket.io");
const { createAdapter } = require("..");
const { createSender } = require("./soak-sender");

const id = process.env.SOAK_ID;
const settings = JSON.parse(process.env.SOAK_SETTINGS);
const httpServer = http.createServer();
const io = new Server(httpServer);
io.adapter(createAdapter({ requestsTimeout: settings.requestsTimeout }));

io.on("connection", (socket) => {
  socket.on("join", (room, callback) => {
    socket.join(room);
    callback();
  });
});
io.of("/").on("soak-ping", (callback) => callback(id));

const now = () => performance.timeOrigin + performance.now();

const sender = createSender(id, settings, {
  emit: (stream, payload) => (stream === "all" ? io.emit("m", payload) : io.to(stream).emit("m", payload)),
  requests: {
    fetchSockets: () => io.fetchSockets(),
    serverSideEmit: () =>
      new Promise((resolve, reject) =>
        io.serverSideEmit("soak-ping", (error, answers) => (error ? reject(error) : resolve(answers))),
      ),
    acks: () =>
      new Promise((resolve, reject) =>
        io
          .timeout(settings.requestsTimeout)
          .emit("ask", (error, answers) => (error ? reject(error) : resolve(answers))),
      ),
    rooms: async () => {
      io.socketsJoin("flip");
      io.in("flip").socketsLeave("flip");
    },
  },
  now,
});

process.on("message", (message) => sender.onCommand(message));
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));

httpServer.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
  process.send({ soak: "ready", id, port: httpServer.address().port });
  sender.start();
});
