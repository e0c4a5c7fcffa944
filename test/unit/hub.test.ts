import t, { type Test } from "tap";
import { Hub } from "../../src/hub/hub";
import { type Envelope, envelope, Kind, type Role } from "../../src/protocol/messages";
import type { LinkKind } from "../../src/transports/link";
import { MemoryLink } from "../helpers/memory-link";

/** A hub with links; each test gets its own, closed at teardown. */
function setup(t: Test) {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const link = (name: string, kind: LinkKind = "worker") => {
    const l = new MemoryLink(name, kind);
    hub.addLink(l);
    return l;
  };
  /** A link whose member said HELLO; what the hub sent it so far is forgotten. */
  const member = (uid: string, role: Role = "server", kind: LinkKind = role === "server" ? "worker" : "helper") => {
    const l = link(uid, kind);
    l.inject(envelope({ k: Kind.HELLO, uid, role }));
    l.take();
    return l;
  };
  return { hub, link, member };
}

const publish = (d = '{"type":3}') => envelope({ k: Kind.PUBLISH, d });
const respond = (to: string, d = '{"type":8}') => envelope({ k: Kind.RESPONSE, to, d });
const nsp = (n: string, up = true) => envelope({ k: Kind.NAMESPACE, n, up });

/** Nothing was sent on any of these links since their last take(). */
function nothingSent(t: Test, ...links: MemoryLink[]): void {
  for (const l of links) t.same(l.take(), [], `nothing sent to ${l.name}`);
}

t.test("HELLO is answered with a WELCOME that lists the other servers and their namespaces", async (t) => {
  const { link, member } = setup(t);
  const a = link("a");
  a.inject(envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
  t.same(a.take(), [{ "sio-ipc": 1, k: Kind.WELCOME, servers: [] }], "the first server is alone");
  a.inject(nsp("/"));
  a.inject(nsp("/chat"));
  member("emitter-1", "emitter");
  const b = link("b");
  b.inject(envelope({ k: Kind.HELLO, uid: "s2", role: "server" }));
  t.same(b.take(), [envelope({ k: Kind.WELCOME, servers: [["s1", ["/", "/chat"]]] })], "emitters are not listed");
  const e = link("e", "helper");
  e.inject(envelope({ k: Kind.HELLO, uid: "emitter-2", role: "emitter" }));
  t.same(e.take(), [
    envelope({
      k: Kind.WELCOME,
      servers: [
        ["s1", ["/", "/chat"]],
        ["s2", []],
      ],
    }),
  ]);
  nothingSent(t, a);
});

t.test("a repeated HELLO on the same link is answered again without a second member", async (t) => {
  const { hub, member, link } = setup(t);
  const a = member("s1");
  a.inject(envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
  t.same(a.take(), [envelope({ k: Kind.WELCOME, servers: [] })]);
  t.equal(hub.stats().workers, 1);
  const b = member("s2");
  a.close();
  t.same(b.take(), [envelope({ k: Kind.LEFT, uid: "s1" })], "one LEFT for the one member");
  link("c").inject(envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
  t.equal(hub.stats().workers, 2, "the uid is free again once its link closed");
});

t.test("a link added twice is relayed once", async (t) => {
  const { hub } = setup(t);
  const a = new MemoryLink("a");
  hub.addLink(a);
  hub.addLink(a);
  a.inject(envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
  t.equal(a.take().length, 1);
});

t.test("PUBLISH goes to every other server link as the same object, not to emitters nor the origin", async (t) => {
  const { member } = setup(t);
  const [a, b, c] = ["s1", "s2", "s3"].map((uid) => member(uid));
  const e = member("emitter-1", "emitter");
  const message = publish();
  a.inject(message);
  for (const l of [b, c]) {
    const sent = l.take();
    t.equal(sent.length, 1);
    t.equal(sent[0], message, `${l.name} gets the very object, not a copy`);
  }
  nothingSent(t, a, e);
  const fromEmitter = publish('{"type":9}');
  e.inject(fromEmitter);
  for (const l of [a, b, c]) t.equal(l.take()[0], fromEmitter, `the emitter's message reaches ${l.name}`);
  nothingSent(t, e);
});

t.test("PUBLISH or RESPONSE before HELLO is rejected and goes nowhere", async (t) => {
  const { hub, link, member } = setup(t);
  const b = member("s2");
  const a = link("a");
  a.inject(publish());
  a.inject(respond("s2"));
  nothingSent(t, a, b);
  t.equal(hub.stats().messagesRejected, 2);
  t.equal(hub.stats().messagesRouted, 1, "only the WELCOME to s2");
});

t.test("RESPONSE goes only to its addressee", async (t) => {
  const { hub, member } = setup(t);
  const [a, b, c] = ["s1", "s2", "s3"].map((uid) => member(uid));
  const e = member("emitter-1", "emitter");
  const toB = respond("s2");
  a.inject(toB);
  t.same(b.take(), [toB]);
  t.equal(b.sent.length, 0);
  nothingSent(t, a, c, e);
  const toEmitter = respond("emitter-1");
  c.inject(toEmitter);
  t.equal(e.take()[0], toEmitter, "emitters get their answers");
  nothingSent(t, a, b, c);
  t.equal(hub.stats().messagesDropped, 0);
});

t.test("RESPONSE to a member that left is dropped and counted", async (t) => {
  const { hub, member } = setup(t);
  const a = member("s1");
  const b = member("s2");
  b.close();
  a.take();
  a.inject(respond("s2"));
  a.inject(respond("nobody"));
  nothingSent(t, a, b);
  t.equal(hub.stats().messagesDropped, 2);
});

t.test("NAMESPACE is relayed to emitter links with the server's uid, and not to servers", async (t) => {
  const { member, link } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const e1 = member("emitter-1", "emitter");
  const e2 = member("emitter-2", "emitter", "local");
  a.inject(nsp("/chat"));
  for (const e of [e1, e2]) t.same(e.take(), [envelope({ k: Kind.NAMESPACE, uid: "s1", n: "/chat", up: true })]);
  nothingSent(t, a, b);
  a.inject(nsp("/chat", false));
  t.same(e1.take(), [envelope({ k: Kind.NAMESPACE, uid: "s1", n: "/chat", up: false })]);
  const c = link("c");
  c.inject(envelope({ k: Kind.HELLO, uid: "s3", role: "server" }));
  t.same(c.take(), [
    envelope({
      k: Kind.WELCOME,
      servers: [
        ["s1", []],
        ["s2", []],
      ],
    }),
  ]);
});

t.test("NAMESPACE from a link with no server is rejected", async (t) => {
  const { hub, member, link } = setup(t);
  const e = member("emitter-1", "emitter");
  const other = member("emitter-2", "emitter");
  e.inject(nsp("/"));
  link("fresh").inject(nsp("/"));
  nothingSent(t, e, other);
  t.equal(hub.stats().messagesRejected, 2);
});

t.test("a link that closes is announced as LEFT{uid} to every remaining link", async (t) => {
  const { hub, member, link } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const c = member("s3");
  const e = member("emitter-1", "emitter");
  const silent = link("not yet welcomed");
  b.close();
  for (const l of [a, c, e, silent]) t.same(l.take(), [envelope({ k: Kind.LEFT, uid: "s2" })], `${l.name} is told`);
  nothingSent(t, b);
  a.inject(publish());
  t.equal(c.take().length, 1);
  t.equal(b.sent.length, 0, "a closed link gets no more broadcasts");
  t.equal(hub.stats().workers, 2);
  e.close();
  for (const l of [a, c, silent]) t.same(l.take(), [envelope({ k: Kind.LEFT, uid: "emitter-1" })]);
});

t.test("messages that are not ours are ignored, counted and never forwarded", async (t) => {
  const { hub, member, link } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const stranger = link("stranger");
  const foreign = [
    "hello",
    null,
    42,
    [envelope({ k: Kind.PUBLISH, d: "{}" })],
    { source: "other", k: Kind.PUBLISH, d: "{}" },
    { type: "sticky:connection", data: "GET / HTTP/1.1\r\n", connectionId: 1 },
  ];
  for (const message of foreign) {
    t.doesNotThrow(() => a.inject(message));
    t.doesNotThrow(() => stranger.inject(message));
  }
  nothingSent(t, a, b, stranger);
  const stats = hub.stats();
  t.equal(stats.messagesIgnored, foreign.length * 2);
  t.equal(stats.messagesRejected, 0);
  t.equal(stats.messagesRouted, 2, "only the two WELCOMEs");
});

t.test("malformed messages of ours are rejected, counted and never forwarded", async (t) => {
  const { hub, member } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const malformed: unknown[] = [
    { "sio-ipc": 1 },
    { "sio-ipc": 1, k: 99 },
    { "sio-ipc": 1, k: Kind.PUBLISH },
    { "sio-ipc": 1, k: Kind.PUBLISH, d: { type: 3 } },
    { "sio-ipc": 1, k: Kind.RESPONSE, d: "{}" },
    { "sio-ipc": 1, k: Kind.HELLO, uid: "", role: "server" },
    { "sio-ipc": 1, k: Kind.NAMESPACE, n: "/" },
    // kinds that only the hub sends
    envelope({ k: Kind.WELCOME, servers: [] }),
    envelope({ k: Kind.LEFT, uid: "s2" }),
  ];
  for (const message of malformed) t.doesNotThrow(() => a.inject(message));
  nothingSent(t, a, b);
  t.equal(hub.stats().messagesRejected, malformed.length);
  t.equal(hub.stats().workers, 2, "nobody was removed by a forged LEFT");
});

t.test("messages of another protocol version are rejected with one warning naming both versions", async (t) => {
  const { hub, member, link } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const fresh = link("worker 9");
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));
  fresh.inject({ "sio-ipc": 2, k: Kind.HELLO, uid: "s9", role: "server" });
  a.inject({ "sio-ipc": 2, k: Kind.PUBLISH, d: "{}" });
  a.inject({ "sio-ipc": 2, k: Kind.PUBLISH, d: "{}" });
  await new Promise((resolve) => setImmediate(resolve));
  nothingSent(t, a, b, fresh);
  t.equal(hub.stats().messagesRejected, 3);
  t.equal(hub.stats().workers, 2, "the other version's HELLO is not a member");
  const ours = warnings.filter((w) => (w as Error & { code?: string }).code === "SIO_IPC_PROTOCOL_MISMATCH");
  t.equal(ours.length, 1, "one warning for version 2");
  t.match(ours[0]?.message, /protocol version 2 from worker 9.*speaks version 1/);
});

t.test("a uid already used on another link is rejected", async (t) => {
  const { hub, member, link } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const impostor = link("impostor");
  impostor.inject(envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
  nothingSent(t, impostor, a, b);
  t.equal(hub.stats().messagesRejected, 1);
  t.equal(hub.stats().workers, 2);
  b.inject(respond("s1"));
  t.equal(a.take().length, 1, "answers to s1 still go to the first link");
  nothingSent(t, impostor);
  impostor.close();
  t.same(b.take(), [], "the impostor's link closing does not remove s1");
});

t.test("stats() counts workers, helpers, messages and bytes", async (t) => {
  const { hub, member, link } = setup(t);
  t.same(hub.stats(), {
    workers: 0,
    helpers: 0,
    messagesRouted: 0,
    bytesRouted: 0,
    messagesQueued: 0,
    messagesDropped: 0,
    messagesOverflowed: 0,
    messagesOverflowedAtSenders: 0,
    broadcastsFiltered: 0,
    messagesIgnored: 0,
    messagesRejected: 0,
    messagesTooLarge: 0,
    readsPaused: 0,
    recoverySessions: 0,
    recoveryLogEntries: 0,
    recoveryLogBytes: 0,
    recoveryLogEvicted: 0,
  });
  const a = member("s1");
  const b = member("s2");
  const h = member("emitter-1", "emitter", "helper");
  link("helper before HELLO", "helper");
  link("worker before HELLO", "worker");
  member("emitter-local", "emitter", "local");
  const before = hub.stats();
  t.equal(before.workers, 2, "worker links with a server member");
  t.equal(before.helpers, 2, "helper links, welcomed or not");
  t.equal(before.messagesRouted, 4, "one WELCOME per HELLO");
  t.equal(before.bytesRouted, 0, "envelopes without a payload count no bytes");

  a.inject(publish("x".repeat(10)));
  h.inject(respond("s2", "y".repeat(7)));
  a.inject("not ours");
  a.inject({ "sio-ipc": 1, k: 42 });
  b.failSends = true;
  a.inject(publish("z"));
  a.queued = 3;
  h.queued = 2;
  const after = hub.stats();
  t.equal(after.messagesRouted, 4 + 1 + 1 + 1, "one per delivery, failed sends included");
  t.equal(after.bytesRouted, 10 + 7 + 1);
  t.equal(after.messagesDropped, 1, "the failed send");
  t.equal(after.messagesIgnored, 1);
  t.equal(after.messagesRejected, 1);
  t.equal(after.messagesQueued, 5, "the sum of what the links hold");
  t.not(hub.stats(), after, "each call is a new snapshot");
  after.workers = 99;
  t.equal(hub.stats().workers, 2, "a snapshot, not the live counters");
});

t.test("close() closes every link, stops relaying and is idempotent", async (t) => {
  const { hub, member } = setup(t);
  const a = member("s1");
  const b = member("s2");
  let closes = 0;
  hub.onClose(() => closes++);
  t.equal(hub.closed, false);
  hub.close();
  t.equal(hub.closed, true);
  t.ok(a.closed && b.closed, "every link is closed");
  nothingSent(t, a, b);
  hub.close();
  t.equal(closes, 1, "close listeners run once");
  a.inject(publish());
  b.inject(respond("s1"));
  nothingSent(t, a, b);
  const late = new MemoryLink("late");
  hub.addLink(late);
  late.inject(envelope({ k: Kind.HELLO, uid: "s3", role: "server" }));
  nothingSent(t, late);
  t.notOk(late.closed, "a link offered after close() is left to its owner");
  t.same(hub.stats().workers, 0);
});

t.test("a send that fails is counted as dropped and never throws", async (t) => {
  const { hub, member } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const c = member("s3");
  b.failSends = true;
  t.doesNotThrow(() => a.inject(publish()));
  t.equal(c.take().length, 1, "the other links still get the message");
  t.equal(hub.stats().messagesDropped, 1);
});

t.test("OVERFLOWED adds a member's own drops to messagesOverflowedAtSenders and goes nowhere", async (t) => {
  const { hub, member } = setup(t);
  const a = member("s1");
  const b = member("s2");
  const h = member("emitter-1", "emitter");
  a.inject(envelope({ k: Kind.OVERFLOWED, c: 120 }));
  h.inject(envelope({ k: Kind.OVERFLOWED, c: 3 }));
  // In a BATCH, as a worker's link may send it with the broadcasts of its tick.
  b.inject(envelope({ k: Kind.BATCH, b: ['{"type":3}', envelope({ k: Kind.OVERFLOWED, c: 7 })] }));
  t.equal(hub.stats().messagesOverflowedAtSenders, 130);
  t.equal(a.take().length, 1, "the batch's broadcast still went out");
  nothingSent(t, b, h);
  t.equal(hub.stats().messagesDropped, 0, "not counted as the hub's own drops");
  t.equal(hub.stats().messagesOverflowed, 0);
  // Counts that are not positive integers are rejected, counted, and change nothing.
  const bad = [0, -5, 1.5, "3", null, 2 ** 60, Number.NaN];
  for (const c of bad) a.inject({ "sio-ipc": 1, k: Kind.OVERFLOWED, c });
  a.inject({ "sio-ipc": 1, k: Kind.OVERFLOWED });
  a.inject({ "sio-ipc": 1, k: Kind.OVERFLOWED, c: 1, extra: 1 });
  t.equal(hub.stats().messagesRejected, bad.length + 2);
  t.equal(hub.stats().messagesOverflowedAtSenders, 130, "unchanged by them");
  a.inject(publish());
  t.equal(b.take().length, 1, "the hub still routes");
  nothingSent(t, a, h);
});

t.test("before HELLO, OVERFLOWED is rejected like any other kind", async (t) => {
  const { hub, link } = setup(t);
  const early = link("early");
  early.inject(envelope({ k: Kind.OVERFLOWED, c: 5 }));
  t.equal(hub.stats().messagesOverflowedAtSenders, 0);
  t.equal(hub.stats().messagesRejected, 1);
});

t.test("the hub keeps routing after any bad input", async (t) => {
  const { member } = setup(t);
  const a = member("s1");
  const b = member("s2");
  for (const bad of [undefined, "", { "sio-ipc": 1, k: Kind.PUBLISH, d: 5 }, { "sio-ipc": "x" }, [1]]) a.inject(bad);
  const message: Envelope = publish();
  a.inject(message);
  t.same(b.take(), [message]);
});

t.test(
  "BYE removes a member: the others hear LEFT, its link gets no more PUBLISH, and may say HELLO again",
  async (t) => {
    const { hub, member } = setup(t);
    const a = member("s1");
    const b = member("s2");
    a.inject(envelope({ k: Kind.BYE, uid: "s1" }));
    t.same(b.take(), [envelope({ k: Kind.LEFT, uid: "s1" })]);
    nothingSent(t, a);
    t.equal(hub.stats().workers, 1);
    b.inject(publish());
    nothingSent(t, a);
    b.inject(envelope({ k: Kind.BYE, uid: "s1" }));
    t.equal(hub.stats().messagesRejected, 1, "a BYE for a member not on the link is rejected");
    a.inject(envelope({ k: Kind.HELLO, uid: "s1", role: "server" }));
    a.take();
    b.inject(publish());
    t.equal(a.take().length, 1, "back as a destination after a new HELLO");
  },
);
