/**
 * Bugs found by the fuzzer and the fault tests of issue 6, one test each.
 */
import { Server } from "socket.io";
import t, { type Test } from "tap";
import { ClusterAdapter } from "../../src/adapter";
import { Hub } from "../../src/hub/hub";
import { resolveAdapterOptions } from "../../src/options";
import { checkClusterMessage, checkEnvelope, envelope, Kind, reportVersionSkew } from "../../src/protocol/messages";
import { WorkerPeer } from "../../src/worker";
import { MemoryLink } from "../helpers/memory-link";

function member(hub: Hub, uid: string): MemoryLink {
  const link = new MemoryLink(uid);
  hub.addLink(link);
  link.inject(envelope({ k: Kind.HELLO, uid, role: "server" }));
  link.take();
  return link;
}

/** A WorkerPeer over an in-memory link, with a real Socket.IO server on top. */
function server(t: Test) {
  const link = new MemoryLink("the hub");
  const peer = new WorkerPeer(link);
  const io = new Server({
    adapter: function (nsp: any) {
      return new ClusterAdapter(nsp, resolveAdapterOptions(), peer);
    } as any,
  });
  link.inject(envelope({ k: Kind.WELCOME, servers: [] }));
  t.teardown(() => io.of("/").adapter.close());
  return { link, io };
}

t.test("a version or a kind that cannot be turned into a string does not throw", async (t) => {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const a = member(hub, "s1");
  const b = member(hub, "s2");
  const objects = [{ toString: 1 }, Object.create(null), { valueOf: {}, toString: {} }];
  for (const odd of objects) {
    t.doesNotThrow(() => a.inject({ "sio-ipc": odd, k: Kind.PUBLISH, d: "{}" }), "an odd version");
    t.doesNotThrow(() => a.inject({ "sio-ipc": 1, k: odd, d: "{}" }), "an odd kind");
    t.doesNotThrow(() => reportVersionSkew(odd, "worker 1", () => {}));
  }
  t.match(checkEnvelope({ "sio-ipc": 1, k: { toString: 1 } }), /^unknown kind \[object Object\]$/);
  t.same(b.take(), [], "nothing forwarded");
  t.equal(hub.stats().messagesRejected, objects.length * 2);
});

t.test("a stream of distinct version numbers neither floods the warnings nor grows without bound", async (t) => {
  const warnings: Error[] = [];
  const listener = (warning: Error) => warnings.push(warning);
  process.on("warning", listener);
  for (let i = 0; i < 1_000; i++) reportVersionSkew(1_000 + i, "worker 1", () => {});
  for (let i = 0; i < 100; i++) reportVersionSkew(`v${i}`, "worker 1", () => {});
  await new Promise((resolve) => setImmediate(resolve));
  process.off("warning", listener);
  const ours = warnings.filter((w) => (w as Error & { code?: string }).code === "SIO_IPC_PROTOCOL_MISMATCH");
  t.ok(ours.length >= 1 && ours.length <= 16, `at most 16 warnings per process (${ours.length})`);
  t.match(ours[0].message, /protocol version 1000 from worker 1/);
});

t.test("the hub forwards no envelope with a field the protocol does not define", async (t) => {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const a = member(hub, "s1");
  const b = member(hub, "s2");
  const huge = Array.from({ length: 100_000 }, () => 0);
  a.inject({ ...envelope({ k: Kind.PUBLISH, d: "{}" }), extra: huge });
  a.inject(JSON.parse('{"sio-ipc":1,"k":3,"d":"{}","__proto__":{"polluted":1}}'));
  a.inject({ ...envelope({ k: Kind.RESPONSE, to: "s2", d: "{}" }), uid: "s3" });
  t.same(b.take(), [], "nothing forwarded");
  t.equal(hub.stats().messagesRejected, 3);
  t.match(checkEnvelope({ "sio-ipc": 1, k: Kind.PUBLISH, d: "", extra: 1 }), 'PUBLISH with an unknown field "extra"');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  const fine = envelope({ k: Kind.PUBLISH, d: "{}", o: "o1", n: "/", l: 1 });
  t.equal(checkEnvelope(fine as unknown as Record<string, unknown>), null, "every defined field is accepted");
});

t.test("a forged serverSideEmit of a reserved event never reaches the app's handlers", async (t) => {
  for (const event of ["connection", "connect", "new_namespace"]) {
    t.equal(
      checkClusterMessage({ uid: "s1", nsp: "/", type: 9, data: { packet: [event, null] } }, "message"),
      "SERVER_SIDE_EMIT of a reserved event",
    );
  }
  t.equal(checkClusterMessage({ uid: "s1", nsp: "/", type: 9, data: { packet: ["disconnect"] } }, "message"), null);
  const { link, io } = server(t);
  let connections = 0;
  io.on("connection", () => connections++);
  const received: unknown[] = [];
  io.on("custom", (value: unknown) => received.push(value));
  for (const event of ["connection", "custom"]) {
    link.inject(
      envelope({ k: Kind.PUBLISH, d: JSON.stringify({ uid: "s1", nsp: "/", type: 9, data: { packet: [event, 1] } }) }),
    );
  }
  t.equal(connections, 0, "no connection handler ran");
  t.same(received, [1], "other events still arrive");
});

t.test("an answer that cannot be encoded is dropped, never an unhandled rejection in the worker", async (t) => {
  const { link, io } = server(t);
  const adapter = io.of("/").adapter as unknown as ClusterAdapter & { addAll(id: string, rooms: Set<string>): void };
  const socket = {
    id: "fake",
    handshake: { headers: {} },
    rooms: new Set(["fake"]),
    data: {
      get boom() {
        throw new Error("a getter that throws");
      },
    },
  };
  (io.of("/").sockets as Map<string, unknown>).set("fake", socket);
  adapter.addAll("fake", new Set(["fake"]));
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on("unhandledRejection", onRejection);
  link.take();
  link.inject(
    envelope({
      k: Kind.PUBLISH,
      d: JSON.stringify({ uid: "s1", nsp: "/", type: 7, data: { opts: { rooms: [], except: [] }, requestId: "r1" } }),
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  process.off("unhandledRejection", onRejection);
  t.same(rejections, [], "no unhandled rejection");
  // The codec leaves out a value whose getter throws: the answer goes, without it.
  const answers = link.take().filter((e) => e.k === Kind.RESPONSE) as { d: string }[];
  t.equal(answers.length, 1, "one answer");
  t.same(JSON.parse(answers[0].d).data.sockets[0].data, {}, "without the value that cannot be read");
  (io.of("/").sockets as Map<string, unknown>).delete("fake");
});
