// Connects to the ticker and prints what the primary pushes. TICKS=n exits after n ticks.
//
//   node examples/emitter-in-primary/client.js

const { io } = require("socket.io-client");

const PORT = Number(process.env.PORT) || 3000;
const TICKS = Number(process.env.TICKS) || Number.POSITIVE_INFINITY;

const socket = io(`http://localhost:${PORT}`, { transports: ["websocket"] });
let ticks = 0;
socket.on("hello", (text) => console.log(text));
socket.on("time", (time) => {
  console.log(`tick from the primary: ${time}`);
  if (++ticks >= TICKS) socket.disconnect();
});
socket.on("connect_error", (error) => console.error(`cannot connect: ${error.message}`));
