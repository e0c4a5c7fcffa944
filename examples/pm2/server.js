// One instance of the "chat" app under PM2 cluster mode. Every instance listens on the same PORT:
// PM2's daemon owns the port and hands each TCP connection to an instance, round-robin, so clients
// use `transports: ["websocket"]` (a long-polling session needs every request on one instance).

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("socket.io-ipc-adapter");

const PORT = Number(process.env.PORT ?? 3000);
const instance = `instance ${process.env.NODE_APP_INSTANCE ?? "?"} (pid ${process.pid})`;

const httpServer = http.createServer();
const io = new Server(httpServer);
// The one line of socket.io-ipc-adapter: PM2 is detected, the instances of the app find each other.
io.adapter(createAdapter());

io.on("connection", (socket) => {
  socket.emit("welcome", { instance });
  // Reaches the clients of every instance.
  socket.on("shout", (text) => io.emit("shout", { text, from: instance }));
  // Cluster-wide answers, computed on whichever instance holds this client.
  socket.on("stats", async (callback) => {
    const sockets = await io.fetchSockets();
    const perInstance = {};
    for (const remote of sockets) perInstance[remote.data.instance] = (perInstance[remote.data.instance] ?? 0) + 1;
    callback({ servers: await io.of("/").adapter.serverCount(), sockets: sockets.length, perInstance });
  });
  socket.data.instance = instance;
});

// pm2 stop / reload send SIGINT: close the Socket.IO server (it leaves the cluster at once) and exit.
process.on("SIGINT", () => {
  io.close();
  process.exit(0);
});

httpServer.listen(PORT, () => console.log(`${instance} listens on port ${PORT}`));
