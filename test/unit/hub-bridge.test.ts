import t, { type Test } from "tap";
import { resolveBridgeOptions } from "../../src/bridge/options";
import { Hub } from "../../src/hub/hub";
import { setupPrimary } from "../../src/index";
import { envelope, Kind } from "../../src/protocol/messages";
import { MemoryLink } from "../helpers/memory-link";

function setup(t: Test) {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const worker = (uid: string) => {
    const link = new MemoryLink(uid);
    hub.addLink(link);
    link.inject(envelope({ k: Kind.HELLO, uid, role: "server" }));
    link.inject(envelope({ k: Kind.NAMESPACE, n: "/", up: true }));
    link.take();
    return link;
  };
  return { hub, worker };
}

t.test("a bridge link gets every PUBLISH and namespace event before any member of its own", async (t) => {
  const { hub, worker } = setup(t);
  const w1 = worker("w1");
  const bridge = new MemoryLink("bridge", "bridge");
  hub.addLink(bridge);
  t.same(bridge.take(), [envelope({ k: Kind.NAMESPACE, uid: "w1", n: "/", up: true })], "the namespaces already up");
  const w2 = worker("w2");
  t.same(bridge.take(), [envelope({ k: Kind.NAMESPACE, uid: "w2", n: "/", up: true })]);
  const message = envelope({ k: Kind.PUBLISH, d: "{}" });
  w1.inject(message);
  t.same(bridge.take(), [message]);
  t.same(w2.take(), [message]);
  bridge.inject(message);
  t.same(w1.take(), [message], "a bridge may publish without a member");
  t.same(w2.take(), [message]);
  t.same(bridge.take(), [], "never back to itself");
  t.equal(hub.stats().workers, 2, "a bridge is no worker");
});

t.test("members of a bridge are named in their NAMESPACE events, and removed one by one", async (t) => {
  const { hub, worker } = setup(t);
  const w1 = worker("w1");
  const helper = new MemoryLink("helper", "helper");
  hub.addLink(helper);
  helper.inject(envelope({ k: Kind.HELLO, uid: "emitter:1", role: "emitter" }));
  const bridge = new MemoryLink("bridge", "bridge");
  hub.addLink(bridge);
  for (const uid of ["r1", "r2"]) bridge.inject(envelope({ k: Kind.HELLO, uid, role: "server" }));
  bridge.inject(envelope({ k: Kind.NAMESPACE, uid: "r2", n: "/chat", up: true }));
  helper.take();
  bridge.inject(envelope({ k: Kind.NAMESPACE, uid: "r1", n: "/", up: true }));
  t.same(helper.take(), [envelope({ k: Kind.NAMESPACE, uid: "r1", n: "/", up: true })], "attributed to r1, not r2");
  w1.inject(envelope({ k: Kind.NAMESPACE, uid: "r1", n: "/x", up: true }));
  t.same(
    helper.take(),
    [envelope({ k: Kind.NAMESPACE, uid: "w1", n: "/x", up: true })],
    "a worker cannot speak for r1",
  );
  w1.take();
  bridge.take();
  w1.inject(envelope({ k: Kind.RESPONSE, to: "r1", d: "{}" }));
  t.same(
    bridge.take(),
    [envelope({ k: Kind.RESPONSE, to: "r1", d: "{}" })],
    "responses to remote members go to the bridge",
  );
  hub.removeMember(bridge, "r1");
  hub.removeMember(bridge, "w1");
  hub.removeMember(w1, "nobody");
  t.same(w1.take(), [envelope({ k: Kind.LEFT, uid: "r1" })]);
  t.same(helper.take(), [envelope({ k: Kind.LEFT, uid: "r1" })]);
  t.same(bridge.take(), [], "the bridge knows already");
  w1.inject(envelope({ k: Kind.RESPONSE, to: "r1", d: "{}" }));
  t.same(bridge.take(), [], "r1 is gone");
  t.equal(hub.stats().messagesDropped, 1);
});

t.test("bridge options are checked, each with a message that names it", async (t) => {
  const redis = { duplicate() {}, connect() {}, sendCommand() {}, subscribe() {}, unsubscribe() {}, on() {} };
  const resolved = resolveBridgeOptions({ redis });
  t.equal(resolved.streamName, "socket.io");
  t.equal(resolved.countEachServer, "auto");
  t.ok(Object.isFrozen(resolved));
  t.equal(resolveBridgeOptions({ redis, streamCount: 4, countEachServer: false }).streamCount, 4);
  t.equal(resolveBridgeOptions({ redis, countEachServer: false }).countEachServer, false);
  t.equal(resolveBridgeOptions({ redis, countEachServer: true }).countEachServer, true);
  const fails: [object, RegExp][] = [
    [{}, /bridge.redis must be a client of the redis package .* got undefined/],
    [{ redis: { ...redis, sendCommand: 1 } }, /without sendCommand\(\)/],
    [{ redis: { masters: [] } }, /Redis Cluster client, which the bridge does not support yet/],
    [{ redis: { nodes() {}, status: "ready", call() {} } }, /Redis Cluster client/],
    [{ redis, streamName: "" }, /bridge.streamName must be a non-empty string, got "" \(string\)/],
    [{ redis, streamCount: 1.5 }, /bridge.streamCount must be a positive integer, got 1.5/],
    [{ redis, maxLen: 0 }, /bridge.maxLen must be a positive integer, got 0/],
    [{ redis, blockTimeInMs: -1 }, /bridge.blockTimeInMs must be a positive number/],
    [{ redis, countEachServer: "yes" }, /bridge.countEachServer must be true, false or "auto", got "yes"/],
    [
      { redis, heartbeatInterval: 5_000, heartbeatTimeout: 5_000 },
      /bridge.heartbeatTimeout \(5000 ms\) must be greater/,
    ],
  ];
  for (const [options, message] of fails) t.throws(() => resolveBridgeOptions(options), message);
  t.throws(() => resolveBridgeOptions(null), /options must be an object/);
  t.throws(
    () => setupPrimary({ bridge: { redis: null as any } }),
    /bridge.redis must be/,
    "setupPrimary() checks them",
  );
});
