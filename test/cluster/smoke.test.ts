import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { once } from "../helpers/wait";

for (const serialization of SERIALIZATIONS) {
  t.test(`broadcasts to every worker (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization });
    const clients = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    const got = Promise.all(clients.map((s) => once(s, "hello")));
    await c.workers[0].eval(`io.emit("hello", "world", Buffer.from([1,2,3])); return true`);
    const results = await got;
    for (const [text, bin] of results) {
      t.equal(text, "world");
      t.ok(Buffer.isBuffer(bin), "binary arrives as binary");
      t.same([...bin], [1, 2, 3]);
    }
    t.same(await c.serverCounts(), [3, 3, 3]);
    const sockets = await c.workers[1].eval(`return (await io.fetchSockets()).map(s => s.id)`);
    t.equal(sockets.length, 3);
  });
}
