// Real socket.io-client clients for the latency scenarios, in a process of their own. Forked by the
// primary: {op: "connect", ports, perWorker} connects perWorker websocket clients to each worker;
// {op: "run", from, until, grace} records, for every "probe" event sent in [from, until) and
// received before until + grace, the delay since the sender's timestamp (process.hrtime: the same
// monotonic clock in every process).
import { createRequire } from "node:module";
import { percentiles } from "./stats.mjs";

const require = createRequire(import.meta.url);
const { io } = require("socket.io-client");

const sockets = [];
let window = null;

function onProbe(sentAt, sentDate) {
  if (!window || sentDate < window.from || sentDate >= window.until) return;
  window.samples.push(Number(process.hrtime.bigint()) / 1e6 - sentAt);
}

async function connect({ ports, perWorker }) {
  const connecting = [];
  for (const port of ports) {
    for (let i = 0; i < perWorker; i++) {
      const socket = io(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true, reconnection: false });
      socket.on("probe", onProbe);
      sockets.push(socket);
      connecting.push(
        new Promise((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("connect_error", reject);
        }),
      );
    }
  }
  await Promise.all(connecting);
}

process.on("message", async (message) => {
  if (message.op === "connect") {
    await connect(message);
    process.send({ connected: sockets.length });
  } else if (message.op === "run") {
    window = { from: message.from, until: message.until, samples: [] };
    setTimeout(
      () => {
        const { samples } = window;
        window = null;
        process.send({ received: samples.length, ...percentiles(samples) });
      },
      Math.max(0, message.until - Date.now()) + (message.grace ?? 1_000),
    );
  }
});
process.on("disconnect", () => process.exit(0));
