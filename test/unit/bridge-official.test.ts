import t from "tap";
import { OfficialServers } from "../../src/bridge/official";

const none = new Set<string>();

t.test("servers with a marker are bridges: never official", async (t) => {
  const official = new OfficialServers(1_000);
  const markers = new Set(["a0", "a1", "b0"]);
  for (let now = 0; now < 5_000; now += 100) t.equal(official.update(["a0", "a1", "b0"], markers, now), false);
  t.equal(official.present, false);
  t.equal(official.count, 0);
});

t.test("an unmarked server counts once two listings in a row show it", async (t) => {
  const official = new OfficialServers(1_000);
  const markers = new Set(["b0"]);
  t.equal(official.update(["b0", "s"], markers, 0), false, "one listing could catch a SUBSCRIBE in flight");
  t.equal(official.present, false);
  t.equal(official.update(["b0", "s", "s"], markers, 100), true, "the second one confirms");
  t.equal(official.present, true);
  t.equal(official.count, 1, "a uid counts once");
  t.equal(official.update(["b0", "s", "s2"], markers, 200), false);
  t.equal(official.count, 1, "s2 is not confirmed yet");
  t.equal(official.update(["s", "s2"], markers, 300), false);
  t.equal(official.count, 2);
});

t.test("a uid seen unmarked in listings that are not consecutive never counts", async (t) => {
  const official = new OfficialServers(1_000);
  for (let i = 0; i < 10; i++) official.update(i % 2 ? ["x"] : [], none, i * 100);
  t.equal(official.present, false);
  const marked = new OfficialServers(1_000);
  // A bridge's marker was caught missing once (a resubscription in flight): it does not count.
  marked.update(["b0"], none, 0);
  marked.update(["b0"], new Set(["b0"]), 100);
  marked.update(["b0"], none, 200);
  t.equal(marked.present, false);
});

t.test("the connections close only once no official server was listed for the hold time", async (t) => {
  const official = new OfficialServers(1_000);
  official.update(["s"], none, 0);
  official.update(["s"], none, 100);
  t.equal(official.present, true);
  t.equal(official.update([], none, 200), false, "gone from one listing: kept");
  t.equal(official.count, 0);
  t.equal(official.update([], none, 1_099), false, "still within the hold time");
  t.equal(official.update([], none, 1_100), true, "the hold time after the last sighting");
  t.equal(official.present, false);
});

t.test("an official server that restarts within the hold time does not make the connections flap", async (t) => {
  const official = new OfficialServers(1_000);
  const changes: number[] = [];
  const feed = (servers: string[], now: number) => official.update(servers, none, now) && changes.push(now);
  feed(["s"], 0);
  feed(["s"], 100);
  // s restarts with a new uid: absent for 500 ms, then listed again.
  for (let now = 200; now < 700; now += 100) feed([], now);
  for (let now = 700; now < 1_500; now += 100) feed(["s-new"], now);
  t.same(changes, [100], "opened once, never closed");
  t.equal(official.present, true);
  t.equal(official.count, 1);
});
