// Connects clients to the PM2 app until they sit on at least two instances (PM2 spreads
// connections round-robin), then one shouts: every client hears it, whatever its instance.
// Exits 0 when all went well.
//
//   node examples/pm2/client.js [url]     (default http://localhost:3000)

const { io } = require("socket.io-client");

const url = process.argv[2] ?? process.env.URL ?? "http://localhost:3000";

function connect() {
  // The one client line for PM2: websocket only, so that each session is one TCP connection.
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once("welcome", ({ instance }) => resolve({ socket, instance }));
    socket.once("connect_error", (error) => reject(new Error(`cannot connect to ${url}: ${error.message}`)));
  });
}

async function main() {
  const clients = [];
  while (clients.length < 8 && new Set(clients.map((c) => c.instance)).size < 2) clients.push(await connect());
  if (clients.length < 3) clients.push(await connect());
  const heard = clients.map(
    ({ socket, instance }) =>
      new Promise((resolve) =>
        socket.once("shout", ({ text, from }) => resolve(`${instance} heard "${text}" from ${from}`)),
      ),
  );
  clients[0].socket.emit("shout", "hello, everyone");
  for (const line of await Promise.all(heard)) console.log(line);
  const stats = await clients[clients.length - 1].socket.emitWithAck("stats");
  console.log(`${stats.servers} servers, ${stats.sockets} sockets:`, JSON.stringify(stats.perInstance));
  for (const { socket } of clients) socket.disconnect();
  if (stats.servers < 2 || stats.sockets !== clients.length) {
    console.error("expected every instance and every client to be seen");
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
