// The job, in its own process: forked by the primary and passed to hub.attach(child).
// It exits by itself when it is done: the emitter holds the process only while it waits for answers.

const { Emitter } = require("../..");

const user = process.argv[2] ?? "alice";
const room = `user:${user}`;
const emitter = new Emitter();

async function main() {
  // Beyond the Redis emitter: acknowledgements from the clients, on every worker.
  const acks = await new Promise((resolve, reject) => {
    emitter
      .to(room)
      .timeout(5_000)
      .emit("notification", { text: "Your report is ready" }, (err, responses) =>
        err ? reject(err) : resolve(responses),
      );
  });
  console.log(`job: ${acks.length} devices of ${user} acknowledged: ${acks.join(", ")}`);

  // ...and fetchSockets(): plain { id, handshake, rooms, data } objects.
  const sockets = await emitter.in(room).fetchSockets();
  for (const socket of sockets) {
    console.log(`job: ${user} is connected on ${socket.data.device}, worker ${socket.data.worker} (${socket.id})`);
  }
}

main().catch((error) => {
  console.error(`job: ${error.message}`);
  process.exitCode = 1;
});
