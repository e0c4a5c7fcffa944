import t from "tap";
import { RecoveryLog } from "../../src/hub/recovery";

t.test("restores a session once, with the namespace's packets after the offset", async (t) => {
  const log = new RecoveryLog();
  t.teardown(() => log.close());
  log.append("a", "/", "p1");
  log.append("b", "/other", "q1");
  log.append("c", "/", "p2");
  log.append("d", "/", "p3");
  log.save("/", "pid1", "session");
  t.same(log.restore("/", "pid1", "a"), { session: "session", log: ["p2", "p3"] });
  t.equal(log.restore("/", "pid1", "a"), null, "a session is restored once");
  t.same(log.stats(), { recoverySessions: 0, recoveryLogEntries: 4, recoveryLogBytes: 8, recoveryLogEvicted: 0 });
});

t.test("an unknown session, another namespace or an unknown offset restore nothing", async (t) => {
  const log = new RecoveryLog();
  t.teardown(() => log.close());
  log.append("a", "/", "p1");
  log.save("/", "pid1", "s");
  t.equal(log.restore("/", "nope", "a"), null);
  t.equal(log.restore("/other", "pid1", "a"), null);
  t.equal(log.restore("/", "pid1", "zzz"), null);
});

t.test("keeps at most maxEntries entries and maxBytes characters, oldest out first, counted", async (t) => {
  const log = new RecoveryLog({ maxEntries: 3, maxBytes: 1_000 });
  t.teardown(() => log.close());
  for (let i = 0; i < 2_000; i++) log.append(`o${i}`, "/", "x");
  t.equal(log.stats().recoveryLogEntries, 3);
  t.equal(log.stats().recoveryLogEvicted, 1_997);
  log.save("/", "p", "s");
  t.equal(log.restore("/", "p", "o0"), null, "an evicted offset is gone");
  log.save("/", "p", "s");
  t.same(log.restore("/", "p", "o1997"), { session: "s", log: ["x", "x"] });
  const bytes = new RecoveryLog({ maxEntries: 100, maxBytes: 10 });
  t.teardown(() => bytes.close());
  bytes.append("a", "/", "12345");
  bytes.append("b", "/", "12345");
  bytes.append("c", "/", "12345");
  t.equal(bytes.stats().recoveryLogBytes, 10);
  t.equal(bytes.stats().recoveryLogEntries, 2);
});

t.test("drops entries and sessions older than the namespace's retention", async (t) => {
  const log = new RecoveryLog();
  t.teardown(() => log.close());
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
  });
  let now = 1_000_000;
  Date.now = () => now;
  log.setRetention("/", 1_000);
  log.append("a", "/", "p1");
  log.save("/", "pid", "s");
  now += 1_001;
  t.equal(log.restore("/", "pid", "a"), null, "expired");
  t.equal(log.stats().recoveryLogEntries, 0);
  t.equal(log.stats().recoverySessions, 0);
});
