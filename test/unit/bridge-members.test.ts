import t from "tap";
import { RemoteMembers, roleOf } from "../../src/bridge/members";

function setup(timeout = 1_000) {
  const events: string[] = [];
  const members = new RemoteMembers(
    {
      joined: (uid, role) => events.push(`joined ${uid} ${role}`),
      namespace: (uid, nsp, up) => events.push(`${up ? "up" : "down"} ${uid} ${nsp}`),
      alive: (uid, nsp) => events.push(`alive ${uid} ${nsp}`),
      left: (uid) => events.push(`left ${uid}`),
    },
    timeout,
  );
  const take = () => events.splice(0);
  return { members, take };
}

const listing = (entries: Record<string, string[]>) =>
  new Map(Object.entries(entries).map(([uid, nsps]) => [uid, new Set(nsps)]));

t.test("uids that start with 'emitter' are emitters", async (t) => {
  t.equal(roleOf("emitter"), "emitter");
  t.equal(roleOf("emitter:1a2b"), "emitter");
  t.equal(roleOf("1a2b"), "server");
});

t.test("a message from a new server makes it join, with its namespace, and alive at once", async (t) => {
  const { members, take } = setup();
  members.heard("s1", "/", 0);
  t.same(take(), ["joined s1 server", "up s1 /", "alive s1 /"]);
  members.heard("s1", "/", 10);
  t.same(take(), [], "nothing new");
  members.heard("s1", "/chat", 20);
  t.same(take(), ["up s1 /chat", "alive s1 /chat"]);
  members.heard("emitter:x", "/", 30);
  t.same(take(), ["joined emitter:x emitter"], "an emitter has no namespaces to announce");
  t.equal(members.servers, 1);
  t.ok(members.has("emitter:x"));
});

t.test("a listed namespace that is no longer listed is closed; the last one removes the server", async (t) => {
  const { members, take } = setup();
  members.listed(listing({ s1: ["/", "/chat"], s2: ["/"] }), 0);
  t.same(take(), [
    "joined s1 server",
    "up s1 /",
    "alive s1 /",
    "up s1 /chat",
    "alive s1 /chat",
    "joined s2 server",
    "up s2 /",
    "alive s2 /",
  ]);
  members.listed(listing({ s1: ["/"] }), 100);
  t.same(take(), ["down s1 /chat", "down s2 /", "left s2"]);
  t.equal(members.servers, 1);
});

t.test("a server heard of but not listed yet is not removed by a listing made before it subscribed", async (t) => {
  const { members, take } = setup();
  members.heard("s1", "/", 0);
  take();
  members.listed(listing({}), 10);
  t.same(take(), [], "kept");
  members.listed(listing({ s1: ["/"] }), 20);
  members.listed(listing({}), 30);
  t.same(take(), ["down s1 /", "left s1"], "once listed, leaving the list removes it");
});

t.test("members neither listed nor heard of for the timeout are removed", async (t) => {
  const { members, take } = setup(1_000);
  members.heard("s1", "/", 0);
  members.heard("s2", "/", 500);
  take();
  members.expire(1_200);
  t.same(take(), ["left s1"]);
  members.listed(listing({ s2: ["/"] }), 1_400);
  members.expire(2_000);
  t.same(take(), [], "the listing refreshed s2");
  members.expire(2_401);
  t.same(take(), ["left s2"]);
});

t.test("ADAPTER_CLOSE closes one namespace; announce() tells who is alive", async (t) => {
  const { members, take } = setup();
  members.heard("s1", "/", 0);
  members.heard("s1", "/chat", 0);
  members.heard("s2", "/chat", 0);
  members.heard("emitter:e", "/", 0);
  take();
  members.announce("/chat");
  t.same(take(), ["alive s1 /chat", "alive s2 /chat"]);
  members.announce();
  t.same(take(), ["alive s1 /", "alive s1 /chat", "alive s2 /chat"]);
  members.closed("s1", "/chat");
  members.closed("s1", "/nope");
  members.closed("nobody", "/");
  t.same(take(), ["down s1 /chat"]);
  members.clear();
  t.same(take(), ["left s1", "left s2", "left emitter:e"]);
  t.equal(members.servers, 0);
});
