// Three clients through the sticky primary: long-polling only, websocket only, and the default
// (long-polling, then an upgrade to websocket). One shouts; every client hears it, whatever its
// worker. Exits 0 when all went well.
//
//   node examples/cluster/client.js [url]     (default http://localhost:3000)

const { io } = require("socket.io-client");

const url = process.argv[2] ?? process.env.URL ?? "http://localhost:3000";
const kinds = {
  "long-polling": { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  "polling, then upgrade": {},
};

function connect(kind, options) {
  const socket = io(url, { ...options, forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once("welcome", (welcome) => resolve({ kind, socket, worker: welcome.worker }));
    socket.once("connect_error", (error) => reject(new Error(`${kind}: ${error.message}`)));
  });
}

function next(socket, event) {
  return new Promise((resolve) => socket.once(event, resolve));
}

async function main() {
  // One after the other, so that the sticky primary spreads them over the least busy workers.
  const clients = [];
  for (const [kind, options] of Object.entries(kinds)) clients.push(await connect(kind, options));
  const upgraded = clients[2].socket.io.engine.transport.name === "websocket";
  if (!upgraded) await next(clients[2].socket.io.engine, "upgrade");

  const heard = Promise.all(clients.map(({ socket }) => next(socket, "shouted")));
  clients[0].socket.emit("shout", "hello from a long-polling client");
  const messages = await heard;

  for (const [i, { kind, socket, worker }] of clients.entries()) {
    const transport = socket.io.engine.transport.name;
    console.log(
      `${kind.padEnd(22)} on ${worker}, now ${transport.padEnd(9)} heard "${messages[i].text}" (${messages[i].from})`,
    );
  }
  const census = await clients[1].socket.emitWithAck("census");
  console.log(`${census.servers} servers; sockets per worker: ${JSON.stringify(countBy(census.sockets))}`);
  for (const { socket } of clients) socket.disconnect();
}

function countBy(labels) {
  const counts = {};
  for (const label of labels.sort()) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

const deadline = setTimeout(() => {
  console.error(`no answer from ${url} within 10 s: is examples/cluster/server.js running?`);
  process.exit(1);
}, 10_000);

main().then(
  () => clearTimeout(deadline),
  (error) => {
    console.error(error.message);
    process.exit(1);
  },
);
