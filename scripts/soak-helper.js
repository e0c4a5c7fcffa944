// The Emitter helper of the soak: forked by the primary and attached, it sends numbered broadcasts
// and makes requests like a worker, through an Emitter.

require("../test/fixtures/report-fatal");

const { performance } = require("node:perf_hooks");
const { Emitter } = require("..");
const { createSender } = require("./soak-sender");

const settings = JSON.parse(process.env.SOAK_SETTINGS);
const emitter = new Emitter({ requestsTimeout: settings.requestsTimeout });

const sender = createSender("helper", settings, {
  emit: (stream, payload) => (stream === "all" ? emitter.emit("m", payload) : emitter.to(stream).emit("m", payload)),
  requests: {
    fetchSockets: () => emitter.fetchSockets(),
    serverSideEmit: () =>
      new Promise((resolve, reject) =>
        emitter.serverSideEmit("soak-ping", (error, answers) => (error ? reject(error) : resolve(answers))),
      ),
    acks: () =>
      new Promise((resolve, reject) =>
        emitter
          .timeout(settings.requestsTimeout)
          .emit("ask", (error, answers) => (error ? reject(error) : resolve(answers))),
      ),
    rooms: async () => {
      emitter.socketsJoin("flip");
      emitter.in("flip").socketsLeave("flip");
    },
  },
  now: () => performance.timeOrigin + performance.now(),
});

// The Emitter unrefs the IPC channel when idle: this keeps the helper alive until the soak ends it.
const keepAlive = setInterval(() => {}, 1 << 30);
process.on("message", (message) => sender.onCommand(message));
process.on("disconnect", () => {
  clearInterval(keepAlive);
  process.exit(0);
});
process.on("SIGTERM", () => process.exit(0));
process.send({ soak: "ready", id: "helper" });
sender.start();
