import t, { type Test } from "tap";
import { Hub } from "../../src/hub/hub";
import { type Envelope, envelope, Kind } from "../../src/protocol/messages";
import { MemoryLink } from "../helpers/memory-link";

/** A hub and server links; `reporting` ones send ROOMS for "/" as a worker of this version does. */
function setup(t: Test) {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const server = (uid: string, reporting = true, rooms: string[] = []) => {
    const link = new MemoryLink(uid);
    hub.addLink(link);
    link.inject(envelope({ k: Kind.HELLO, uid, role: "server" }));
    link.inject(envelope({ k: Kind.NAMESPACE, n: "/", up: true }));
    if (reporting) link.inject(envelope({ k: Kind.ROOMS, n: "/", up: rooms }));
    link.take();
    return link;
  };
  return { hub, server };
}

const toRooms = (r: string[], n = "/"): Envelope => envelope({ k: Kind.PUBLISH, d: "{}", n, r });
const got = (link: MemoryLink) => link.take().length;

t.test("a broadcast to rooms goes only to the servers with a member of one of them", async (t) => {
  const { hub, server } = setup(t);
  const a = server("a");
  const b = server("b", true, ["r1"]);
  const c = server("c", true, ["r2", "r3"]);
  const d = server("d", true);
  a.inject(toRooms(["r1"]));
  t.same([got(b), got(c), got(d)], [1, 0, 0], "r1 lives on b only");
  a.inject(toRooms(["r1", "r3"]));
  t.same([got(b), got(c), got(d)], [1, 1, 0], "any of the rooms is enough");
  a.inject(toRooms(["nowhere"]));
  t.same([got(b), got(c), got(d)], [0, 0, 0], "a room with no member goes nowhere");
  a.inject(envelope({ k: Kind.PUBLISH, d: "{}" }));
  t.same([got(b), got(c), got(d)], [1, 1, 1], "a broadcast to everyone still goes everywhere");
  a.inject(toRooms(["r1"], "/other"));
  t.same([got(b), got(c), got(d)], [1, 1, 1], "a namespace whose rooms nobody reported goes everywhere");
  t.equal(hub.stats().broadcastsFiltered, 2 + 1 + 3);
});

t.test("a server that does not report its rooms gets every broadcast", async (t) => {
  const { server } = setup(t);
  const a = server("a");
  const legacy = server("legacy", false);
  a.inject(toRooms(["r1"]));
  t.equal(got(legacy), 1);
});

t.test("ROOMS up and down follow the members; NAMESPACE down and a closed link forget them", async (t) => {
  const { hub, server } = setup(t);
  const a = server("a");
  const b = server("b");
  b.inject(envelope({ k: Kind.ROOMS, n: "/", up: ["r1"] }));
  a.inject(toRooms(["r1"]));
  t.equal(got(b), 1, "after up");
  b.inject(envelope({ k: Kind.ROOMS, n: "/", down: ["r1"] }));
  a.inject(toRooms(["r1"]));
  t.equal(got(b), 0, "after down");
  b.inject(envelope({ k: Kind.NAMESPACE, n: "/", up: false }));
  a.inject(toRooms(["r1"]));
  t.equal(got(b), 1, "once the namespace is closed there, nothing is known: everything goes");
  const emitter = new MemoryLink("emitter", "helper");
  hub.addLink(emitter);
  emitter.inject(envelope({ k: Kind.HELLO, uid: "emitter-1", role: "emitter" }));
  emitter.inject(envelope({ k: Kind.ROOMS, n: "/", up: ["r1"] }));
  t.equal(hub.stats().messagesRejected, 1, "ROOMS from a link with no server is rejected");
});

t.test("a join counts its rooms as present on every server until each says which it has", async (t) => {
  const { server } = setup(t);
  const a = server("a");
  const b = server("b");
  const c = server("c");
  a.inject(envelope({ k: Kind.PUBLISH, d: "{}", n: "/", j: ["new"] }));
  t.same([got(b), got(c)], [1, 1], "the join itself goes everywhere");
  a.inject(toRooms(["new"]));
  t.same([got(b), got(c)], [1, 1], "a broadcast right after the join is not filtered out");
  b.inject(envelope({ k: Kind.ROOMS, n: "/", down: ["new"] }));
  a.inject(toRooms(["new"]));
  t.same([got(b), got(c)], [0, 1], "b had no socket to join: it said so");
});

t.test("checkEnvelope knows ROOMS and the routing fields of PUBLISH", async (t) => {
  const { hub, server } = setup(t);
  const a = server("a");
  for (const bad of [
    { k: Kind.ROOMS },
    { k: Kind.ROOMS, n: "/", up: "r" },
    { k: Kind.ROOMS, n: "/", down: [1] },
    { k: Kind.PUBLISH, d: "{}", r: ["r"] },
    { k: Kind.PUBLISH, d: "{}", n: "/", r: "r" },
    { k: Kind.PUBLISH, d: "{}", n: "/", j: [null] },
  ]) {
    a.inject(envelope(bad as never));
  }
  t.equal(hub.stats().messagesRejected, 6);
});
