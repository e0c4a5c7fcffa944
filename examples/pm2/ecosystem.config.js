// PM2 cluster mode: one Socket.IO server per instance, the worker code unchanged. PM2's daemon is
// the cluster primary and relays nothing between instances; socket.io-ipc-adapter detects PM2 and
// connects the instances of the app to each other over a Unix socket.
//
//   npx pm2 start examples/pm2/ecosystem.config.js
//   node examples/pm2/client.js
//   npx pm2 delete examples/pm2/ecosystem.config.js

module.exports = {
  apps: [
    {
      name: "chat",
      script: `${__dirname}/server.js`,
      exec_mode: "cluster",
      instances: 2, // or "max": one per core
      kill_timeout: 3_000,
      env: { PORT: process.env.PORT ?? 3000 },
    },
  ],
};
