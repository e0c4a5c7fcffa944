import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { forkHelper } from "../helpers/emitter";
import { testBroadcasts } from "../helpers/emitter-broadcasts";
import { testRequests } from "../helpers/emitter-requests";
import { until } from "../helpers/wait";

for (const serialization of SERIALIZATIONS) {
  t.test(`an Emitter in a helper attached with hub.attach(child) (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: { namespaces: ["/admin"] } });
    const host = await forkHelper(t, c, { serialization });
    t.equal(await host.run(`ctx.emitter = new Emitter(); return ctx.emitter.nsp`), "/");
    t.equal(c.hub?.stats().helpers, 1);
    testBroadcasts(t, c, host);
    testRequests(t, c, host);
  });
}

t.test("an Emitter in a helper that emits past its queue's cap counts what it dropped", async (t) => {
  const c = await startCluster(t, { workers: 2 });
  const host = await forkHelper(t, c);
  const client = await c.connect(1);
  let received = 0;
  client.on("big", () => received++);
  const count = 400;
  // 25 MiB in one synchronous loop: the IPC channel cannot take it all before the loop ends.
  const overflowed = (await host.run(
    `ctx.emitter = new Emitter();
     const payload = "x".repeat(64 * 1024);
     for (let i = 0; i < ${count}; i++) ctx.emitter.emit("big", payload);
     return ctx.emitter.messagesOverflowed`,
    60_000,
  )) as number;
  t.ok(overflowed > 0 && overflowed < count, `${overflowed} of ${count} dropped in the helper`);
  t.ok(
    ((await host.run(`return ctx.warnings.map((w) => w.code)`)) as string[]).includes("SIO_IPC_QUEUE_OVERFLOW"),
    "with the process warning",
  );
  await until(() => received === count - overflowed, `the ${count - overflowed} others`, 60_000);
  t.pass("every message not counted arrived");
  await until(
    () => c.hub?.stats().messagesOverflowedAtSenders === overflowed,
    `hub.stats() to count the helper's ${overflowed} drops`,
    30_000,
  );
  t.pass("the hub counts the helper's drops");
});
