import { encode as pack, decode as unpack } from "@msgpack/msgpack";
import { MessageType } from "socket.io-adapter";
import t from "tap";
import {
  escapeGlob,
  fromPubSubPayload,
  fromStreamFields,
  hasBinary,
  hashCode,
  isEphemeral,
  markerChannel,
  parseChannel,
  parseMarker,
  privateChannel,
  publicChannel,
  readListing,
  readXReadReply,
  streamOf,
  streamsOf,
  toPubSubPayload,
  toStreamFields,
} from "../../src/bridge/wire";

const opts = { rooms: ["r"], except: [], flags: {} };

t.test("a message without binary is one stream entry with JSON data, as the streams adapter writes it", async (t) => {
  const message = {
    uid: "u1",
    nsp: "/",
    type: MessageType.BROADCAST,
    data: { packet: { type: 2, data: ["ev", 1] }, opts },
  };
  const fields = toStreamFields(message as any);
  t.same(fields, { uid: "u1", nsp: "/", type: "3", data: JSON.stringify(message.data) });
  t.same(fromStreamFields(fields), message);
  t.same(toStreamFields({ uid: "u1", nsp: "/", type: MessageType.INITIAL_HEARTBEAT } as any), {
    uid: "u1",
    nsp: "/",
    type: "1",
  });
  t.same(fromStreamFields({ uid: "u1", nsp: "/", type: "1" }), { uid: "u1", nsp: "/", type: 1 });
});

t.test("binary data goes as base64 of msgpack, and comes back as the same bytes", async (t) => {
  const data = { packet: { type: 2, data: ["ev", Buffer.from([1, 2]), { deep: new Uint16Array([258]) }] }, opts };
  const fields = toStreamFields({ uid: "u1", nsp: "/chat", type: MessageType.BROADCAST, data } as any);
  t.equal(fields.data, Buffer.from(pack(data)).toString("base64"));
  t.not(fields.data[0], "{");
  const back = fromStreamFields(fields) as any;
  t.same([...back.data.packet.data[1]], [1, 2]);
  t.same(
    [...back.data.packet.data[2].deep],
    [2, 1],
    "a typed array arrives as its bytes (msgpack has one binary type)",
  );
  // Only the types that may carry binary are msgpack-encoded; the others keep JSON, as in the adapter.
  const join = toStreamFields({
    uid: "u",
    nsp: "/",
    type: MessageType.SOCKETS_JOIN,
    data: { opts, rooms: ["x"] },
  } as any);
  t.equal(join.data, JSON.stringify({ opts, rooms: ["x"] }));
});

t.test("a malformed stream entry throws", async (t) => {
  t.throws(() => fromStreamFields({ uid: "u", nsp: "/" }), /without uid, nsp or type/);
  t.throws(() => fromStreamFields({ uid: "u", nsp: "/", type: "3", data: "{nope" }));
});

t.test("PUB/SUB payloads are msgpack of the whole message", async (t) => {
  const message = { uid: "u", nsp: "/", type: MessageType.FETCH_SOCKETS, data: { opts, requestId: "r1" } };
  const payload = toPubSubPayload(message as any);
  t.same(unpack(payload), message);
  t.same(fromPubSubPayload(payload), message);
  t.throws(() => fromPubSubPayload(Buffer.from(pack([1, 2]))), /not a map/);
  t.throws(() => fromPubSubPayload(Buffer.from(pack({ uid: 1 }))), /without uid/);
});

t.test("requests travel by PUB/SUB, the rest by the stream", async (t) => {
  const m = (type: number, data: object = {}) => ({ uid: "u", nsp: "/", type, data }) as any;
  t.ok(isEphemeral(m(MessageType.FETCH_SOCKETS)));
  t.ok(isEphemeral(m(MessageType.SERVER_SIDE_EMIT)));
  t.ok(isEphemeral(m(MessageType.BROADCAST, { requestId: "1" })));
  t.notOk(isEphemeral(m(MessageType.BROADCAST)));
  t.notOk(isEphemeral(m(MessageType.SOCKETS_JOIN)));
  t.notOk(isEphemeral(m(MessageType.ADAPTER_CLOSE)));
});

t.test("hasBinary looks into arrays, objects and toJSON() once", async (t) => {
  t.notOk(hasBinary(null));
  t.notOk(hasBinary({ a: [1, "x", { b: null }] }));
  t.ok(hasBinary([1, { a: new ArrayBuffer(1) }]));
  t.ok(hasBinary({ toJSON: () => ({ b: Buffer.alloc(1) }) }));
  t.notOk(hasBinary({ toJSON: () => ({ toJSON: () => Buffer.alloc(1) }) }), "toJSON is applied once");
});

t.test("streams and channels are named as the streams adapter names them", async (t) => {
  t.equal(hashCode("/"), 47);
  t.equal(hashCode("/chat"), 46_457_863);
  t.equal(streamOf("/", "socket.io", 1), "socket.io");
  t.equal(streamOf("/", "socket.io", 3), "socket.io-2");
  t.same(streamsOf("s", 1), ["s"]);
  t.same(streamsOf("s", 2), ["s--1", "s-0", "s-1"]);
  t.equal(publicChannel("socket.io", "/chat"), "socket.io#/chat#");
  t.equal(privateChannel("socket.io", "/chat", "abc"), "socket.io#/chat#abc#");
  t.same(parseChannel("socket.io", "socket.io#/chat#"), { nsp: "/chat", uid: null });
  t.same(parseChannel("socket.io", "socket.io#/chat#abc#"), { nsp: "/chat", uid: "abc" });
  t.same(parseChannel("socket.io", "socket.io#/a#b#emitter:1#"), { nsp: "/a#b", uid: "emitter:1" });
  t.equal(parseChannel("socket.io", "other#/#abc#"), null);
  t.equal(parseChannel("socket.io", "socket.io#/#abc"), null);
  t.equal(parseChannel("socket.io", "socket.io#x#abc#"), null);
  t.equal(parseChannel("socket.io", "socket.io#/##"), null);
  t.equal(escapeGlob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
});

t.test("a bridge marks its servers with a channel that no namespace channel can look like", async (t) => {
  t.equal(markerChannel("socket.io", "abc"), "socket.io#bridge#abc#");
  t.equal(parseMarker("socket.io", "socket.io#bridge#abc#"), "abc");
  t.equal(parseChannel("socket.io", "socket.io#bridge#abc#"), null, "not a server's channel");
  t.equal(parseMarker("socket.io", "socket.io#/#abc#"), null);
  t.equal(parseMarker("socket.io", "socket.io#bridge##"), null);
  t.equal(parseMarker("socket.io", "socket.io#bridge#a#b#"), null);
  t.equal(parseMarker("socket.io", "socket.io#bridge#abc"), null);
  t.equal(parseMarker("other", "socket.io#bridge#abc#"), null);
  const { servers, markers } = readListing("socket.io", [
    "socket.io#/#",
    "socket.io#/#a0#",
    "socket.io#/chat#a0#",
    "socket.io#bridge#a0#",
    "socket.io#/#s1#",
    "socket.io#/#emitter:e#",
  ]);
  t.same(
    [...servers].map(([uid, nsps]) => [uid, [...nsps]]),
    [
      ["a0", ["/", "/chat"]],
      ["s1", ["/"]],
      ["emitter:e", ["/"]],
    ],
  );
  t.same([...markers], ["a0"]);
});

t.test("XREAD replies are read in RESP2 and RESP3 forms", async (t) => {
  const entries = [["1-0", ["uid", "u", "nsp", "/", "type", "3"]]];
  const expected = [["s", "1-0", { uid: "u", nsp: "/", type: "3" }]];
  t.same(readXReadReply(null), []);
  t.same(readXReadReply([["s", entries]]), expected, "RESP2");
  t.same(readXReadReply(["s", entries, "t", entries]), [...expected, ["t", ...expected[0].slice(1)]], "ioredis 6");
  t.same(readXReadReply({ s: entries }), expected, "RESP3, as an object");
  t.same(readXReadReply(new Map([["s", entries]])), expected, "RESP3, as a Map");
  t.same(readXReadReply({ s: [["1-0", new Map([["uid", "u"]])]] }), [["s", "1-0", { uid: "u" }]]);
  t.same(readXReadReply({ s: [["1-0", { uid: "u" }]] }), [["s", "1-0", { uid: "u" }]]);
  t.throws(() => readXReadReply(42), /of type number/);
  t.throws(() => readXReadReply({ s: 1 }), /without entries/);
});
