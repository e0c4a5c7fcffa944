// A user with two devices (two connections, on whichever workers the cluster picks).
//
//   node examples/emitter-in-helper/client.js alice

const { io } = require("socket.io-client");

const PORT = Number(process.env.PORT) || 3000;
const user = process.argv[2] ?? "alice";

const devices = ["laptop", "phone"].map((device) => {
  const socket = io(`http://localhost:${PORT}`, { transports: ["websocket"], auth: { user, device } });
  socket.on("notification", (notification, ack) => {
    console.log(`${user}'s ${device}: ${notification.text}`);
    ack(device);
  });
  socket.on("connect_error", (error) => console.error(`${device}: cannot connect: ${error.message}`));
  return socket;
});

// Started by index.js: tell it when both devices are connected.
Promise.all(devices.map((socket) => new Promise((resolve) => socket.once("connect", resolve)))).then(() => {
  console.log(`${user}: ${devices.length} devices connected`);
  process.send?.("connected");
});
