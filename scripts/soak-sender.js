// What every sender of the soak shares (workers and the Emitter helper): numbered broadcasts to
// "all", "r0" and "r1" at a fixed rate, each carrying its send time and the previous one; requests
// of every kind, with their outcome counted; the send log flushed to the primary twice a second.

const STREAMS = ["all", "r0", "r1"];
const REQUEST_KINDS = ["fetchSockets", "serverSideEmit", "acks", "rooms"];

function createSender(id, settings, { emit, requests, now }) {
  const times = Object.fromEntries(STREAMS.map((stream) => [stream, []]));
  const flushed = Object.fromEntries(STREAMS.map((stream) => [stream, 0]));
  const stats = Object.fromEntries(
    REQUEST_KINDS.map((kind) => [kind, { started: 0, ok: 0, errors: 0, maxMs: 0, firstErrors: [] }]),
  );
  let pending = 0;
  const timers = [];

  function tick() {
    for (const stream of STREAMS) {
      const list = times[stream];
      const t = now();
      emit(stream, { s: id, st: stream, q: list.length, t });
      list.push(t);
    }
  }

  function request() {
    const kind = REQUEST_KINDS[Math.floor(Math.random() * REQUEST_KINDS.length)];
    const stat = stats[kind];
    const started = now();
    stat.started++;
    pending++;
    Promise.resolve()
      .then(() => requests[kind]())
      .then(
        () => {
          stat.ok++;
        },
        (error) => {
          stat.errors++;
          if (stat.firstErrors.length < 5) stat.firstErrors.push(String(error?.message ?? error));
        },
      )
      .finally(() => {
        pending--;
        stat.maxMs = Math.max(stat.maxMs, now() - started);
      });
  }

  function flush() {
    const update = {};
    for (const stream of STREAMS) {
      update[stream] = times[stream].slice(flushed[stream]);
      flushed[stream] = times[stream].length;
    }
    process.send({ soak: "sent", id, times: update, at: now() });
  }

  return {
    start() {
      timers.push(setInterval(tick, 1000 / settings.rate));
      timers.push(setInterval(request, settings.requestEvery));
      timers.push(setInterval(flush, 500));
    },
    async onCommand(message) {
      if (message?.soak === "sample") {
        global.gc?.();
        const { rss, heapUsed } = process.memoryUsage();
        process.send({ soak: "sample", id, rss, heapUsed, n: message.n });
      } else if (message?.soak === "stop") {
        for (const timer of timers) clearInterval(timer);
        const deadline = Date.now() + settings.requestsTimeout + 5000;
        while (pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        flush();
        process.send({ soak: "stopped", id, requests: stats, pending });
      }
    },
  };
}

module.exports = { createSender, STREAMS };
