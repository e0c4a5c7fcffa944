import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { forkHelper } from "../helpers/emitter";
import { testBroadcasts } from "../helpers/emitter-broadcasts";
import { testRequests } from "../helpers/emitter-requests";

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
