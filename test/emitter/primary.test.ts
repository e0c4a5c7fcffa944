import t from "tap";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { primaryHost } from "../helpers/emitter";
import { testBroadcasts } from "../helpers/emitter-broadcasts";
import { testRequests } from "../helpers/emitter-requests";

for (const serialization of SERIALIZATIONS) {
  t.test(`an Emitter in the primary (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 3, serialization, fixture: { namespaces: ["/admin"] } });
    const host = primaryHost();
    t.equal(await host.run(`ctx.emitter = new Emitter(); return ctx.emitter.nsp`), "/");
    testBroadcasts(t, c, host);
    testRequests(t, c, host);
  });
}
