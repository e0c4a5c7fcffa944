// Faults under a real PM2: the hub's instance killed with SIGKILL (PM2 restarts it), and
// `pm2 reload` (old and new instances overlap with the same pm_id and NODE_APP_INSTANCE).
// The numbers measured are printed as comments; the limits asserted are the issue's.

import type { Socket } from "socket.io-client";
import t from "tap";
import { type Instance, startPm2 } from "../helpers/pm2";
import { once, until } from "../helpers/wait";

// A real PM2 daemon and its apps start slowly on a busy 2-core machine: more than tap's 60 s per file.
t.setTimeout(240_000);

const TICK = 5; // ms between two broadcasts of the stream that measures pauses

t.test(
  "SIGKILL of the hub's instance: the others go on, the restarted one hears broadcasts",
  { timeout: 200_000 },
  async (t) => {
    const pm2 = await startPm2(t, [{ name: "crashy", instances: 3, autorestart: true }]);
    const before = await pm2.instances("crashy");
    await pm2.waitForServerCount(before, 3);
    // Kill the instance that runs the hub: the worst case (a plain instance's death is a LEFT notice).
    const hubPid = pm2.hubPid("crashy");
    const victim = before.find((i) => i.pid === hubPid)!;
    t.ok(victim, "the hub runs in one of the instances");
    const [sender, receiver] = before.filter((i) => i !== victim);
    const client = await pm2.connect(receiver);
    const arrivals: [seq: number, at: number][] = [];
    client.on("tick", (seq: number) => arrivals.push([seq, Date.now()]));
    await pm2.eval(sender, `let seq = 0; ctx.loop = setInterval(() => io.emit("tick", seq++), ${TICK}); return true`);
    await until(() => arrivals.length > 20, "the stream of ticks to flow", 10_000);

    const killedAt = Date.now();
    process.kill(victim.pid, "SIGKILL");
    const restarted = await pm2.waitForNewInstance(
      "crashy",
      before.map((i) => i.pid),
    );
    const late = await pm2.connect(restarted);
    const [firstSeq] = await once(late, "tick", 10_000);
    const firstAt = Date.now();
    t.comment(
      `restart: PM2 restarted the instance ${restarted.readyAt - killedAt} ms after the kill; its client heard a broadcast ${firstAt - restarted.readyAt} ms after it listened (tick ${firstSeq})`,
    );
    t.ok(firstAt - restarted.readyAt < 2_000, "the restarted instance receives broadcasts within 2 s");

    const endAt = Date.now() + 300;
    await until(() => Date.now() > endAt, "a little more of the stream", 5_000);
    await pm2.eval(sender, "clearInterval(ctx.loop); return true");
    const window = arrivals.filter(([, at]) => at >= killedAt - 100);
    let gap = 0;
    for (let n = 1; n < window.length; n++) gap = Math.max(gap, window[n][1] - window[n - 1][1]);
    const seqs = arrivals.map(([seq]) => seq);
    const lost = seqs[seqs.length - 1] - seqs[0] + 1 - new Set(seqs).size;
    // The pause also counts the sender's own delays on a busy machine; the ticks lost (one every
    // TICK ms) measure the time no hub relayed them.
    t.comment(
      `failover: longest pause at a surviving instance ${gap} ms; ${lost} of ${seqs.length + lost} ticks lost (~${lost * TICK} ms without a hub)`,
    );
    t.ok(gap < 1_000, "the others go on with no pause longer than 1 s");
    t.equal(new Set(seqs).size, seqs.length, "no tick delivered twice");
    const after = await pm2.waitForInstances("crashy", 3);
    t.ok((await pm2.waitForServerCount(after, 3)) >= 0, "every instance counts 3 servers again");
    const answers = await pm2.eval(
      restarted,
      `return await new Promise((resolve) => io.serverSideEmit("ping-servers", (e, a) => resolve(a)))`,
    );
    t.equal(answers.length, 2, "the restarted instance reaches the others");
  },
);

t.test(
  "pm2 reload: no duplicate deliveries, and fetchSockets/serverCount right again within 5 s",
  { timeout: 200_000 },
  async (t) => {
    const pm2 = await startPm2(t, [{ name: "reloady", instances: 3 }]);
    const old = await pm2.instances("reloady");
    await pm2.waitForServerCount(old, 3);
    const received = new Map<Socket, number[]>();
    const listen = async (instance: Instance) => {
      const socket = await pm2.connect(instance);
      received.set(socket, []);
      socket.on("seq", (n: number) => received.get(socket)!.push(n));
    };
    await Promise.all(old.map(listen));

    // Broadcast a numbered stream from whichever instance is alive, and follow new instances.
    let live = [...old];
    const known = new Set(old.map((i) => i.pid));
    let sent = 0;
    let reloading = true;
    const driver = (async () => {
      while (reloading) {
        const from = live[sent % live.length];
        try {
          await pm2.eval(from, `io.emit("seq", ${sent}); return true`, 2_000);
        } catch {
          live = live.filter((i) => i !== from); // stopped by the reload
        }
        sent++;
        for (const instance of pm2.listening("reloady")) {
          if (known.has(instance.pid)) continue;
          known.add(instance.pid);
          live.push(instance);
          await listen(instance).catch(() => {});
        }
      }
    })();
    const reloadStart = Date.now();
    await pm2.cli(["reload", "reloady"], 60_000);
    const reloadedAt = Date.now();
    reloading = false;
    await driver;

    const fresh = await pm2.waitForInstances(
      "reloady",
      3,
      20_000,
      old.map((i) => i.pid),
    );
    const countMs = await pm2.waitForServerCount(fresh, 3, 5_000);
    const connected = [...received.keys()].filter((s) => s.connected).length;
    let fetched = 0;
    await until(
      async () => {
        fetched = await pm2.eval(fresh[0], "return (await io.fetchSockets()).length");
        return fetched === connected;
      },
      `fetchSockets() to return the ${connected} connected clients`,
      5_000,
    );
    const convergedMs = Date.now() - reloadedAt;
    t.comment(
      `reload: pm2 reload took ${reloadedAt - reloadStart} ms; serverCount right ${countMs} ms and fetchSockets right ${convergedMs} ms after it returned; ${sent} broadcasts during the reload`,
    );
    t.ok(convergedMs < 5_000, "fetchSockets and serverCount are right again within 5 s");
    for (const [socket, seqs] of received) {
      t.equal(new Set(seqs).size, seqs.length, `no duplicate delivery to ${socket.id ?? "a closed client"}`);
    }
    // And the new instances relay as before.
    const clients = [...received.keys()].filter((s) => s.connected);
    const got = Promise.all(clients.map((s) => once(s, "after", 10_000)));
    await pm2.eval(fresh[1], `io.emit("after"); return true`);
    t.equal((await got).length, clients.length, "a broadcast after the reload reaches every client");
  },
);
