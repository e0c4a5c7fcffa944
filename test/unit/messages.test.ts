import { MessageType } from "socket.io-adapter";
import t from "tap";
import {
  type Batch,
  batchItem,
  checkClusterMessage,
  checkEnvelope,
  type Envelope,
  envelope,
  isOwnMessage,
  Kind,
  MESSAGE_SOURCE,
  PROTOCOL_VERSION,
  type Publish,
  reportVersionSkew,
  unbatch,
} from "../../src/protocol/messages";

t.test("the source tag and version are what every message carries", async (t) => {
  t.equal(MESSAGE_SOURCE, "sio-ipc");
  t.equal(PROTOCOL_VERSION, 1);
  t.same(envelope({ k: Kind.LEFT, uid: "a" }), { "sio-ipc": 1, k: Kind.LEFT, uid: "a" });
});

t.test("isOwnMessage recognises our tag, whatever the version or shape", async (t) => {
  for (const message of [
    { "sio-ipc": 1, k: Kind.PUBLISH, d: "{}" },
    { "sio-ipc": 2 },
    { "sio-ipc": "1" },
    { "sio-ipc": null },
    JSON.parse('{"sio-ipc":1,"__proto__":{}}'),
    Object.assign(Object.create(null), { "sio-ipc": 1 }),
  ]) {
    t.ok(isOwnMessage(message), JSON.stringify(message));
  }
});

t.test("isOwnMessage leaves alone everything else on a shared IPC channel", async (t) => {
  const others: [string, unknown][] = [
    ["a string", "sio-ipc"],
    ["an empty string", ""],
    ["null", null],
    ["undefined", undefined],
    ["a number", 42],
    ["NaN", Number.NaN],
    ["a boolean", true],
    ["an array", [{ "sio-ipc": 1 }]],
    ["an array with the key", Object.assign([], { "sio-ipc": 1 })],
    ["an object with another tag", { source: "other-lib", "sio-ipcx": 1 }],
    ["an inherited tag", Object.create({ "sio-ipc": 1 })],
    ["@socket.io/sticky's connection", { type: "sticky:connection", data: "GET / HTTP/1.1\r\n", connectionId: 1 }],
    ["@socket.io/sticky's session", { type: "sticky:session", sessionId: "abc", connectionId: 1 }],
    ["@socket.io/cluster-adapter's", { source: "_sio_adapter", type: 3, data: {} }],
    ["node's internal message", { cmd: "NODE_CLUSTER", act: "online" }],
  ];
  for (const [what, message] of others) t.notOk(isOwnMessage(message), what);
});

const own = (fields: Record<string, unknown>) => ({ "sio-ipc": PROTOCOL_VERSION, ...fields });

t.test("checkEnvelope accepts every well-formed kind", async (t) => {
  const valid = [
    { k: Kind.HELLO, uid: "s1", role: "server" },
    { k: Kind.HELLO, uid: "emitter-1", role: "emitter" },
    { k: Kind.WELCOME, servers: [] },
    {
      k: Kind.WELCOME,
      servers: [
        ["s1", ["/", "/chat"]],
        ["s2", []],
      ],
    },
    { k: Kind.PUBLISH, d: "" },
    { k: Kind.RESPONSE, to: "s1", d: "{}" },
    { k: Kind.NAMESPACE, n: "/chat", up: true },
    { k: Kind.NAMESPACE, uid: "s1", n: "/", up: false },
    { k: Kind.LEFT, uid: "s1" },
    { k: Kind.PUBLISH, d: "{}", v: 1 },
    { k: Kind.BATCH, b: [] },
    { k: Kind.BATCH, b: ["{}", { "sio-ipc": 1, k: Kind.LEFT, uid: "s1" }] },
  ];
  for (const fields of valid) t.equal(checkEnvelope(own(fields)), null, JSON.stringify(fields));
});

t.test("a BATCH carries plain PUBLISH payloads bare and every other envelope whole, in order", async (t) => {
  const items = [
    envelope({ k: Kind.PUBLISH, d: '{"type":3}' }),
    envelope({ k: Kind.PUBLISH, d: "v", v: 1 }),
    envelope({ k: Kind.PUBLISH, d: "o", o: "1", n: "/" }),
    envelope({ k: Kind.RESPONSE, to: "s1", d: "r" }),
    envelope({ k: Kind.LEFT, uid: "s2" }),
  ] as Exclude<Envelope, Batch>[];
  const batch = envelope<Batch>({ k: Kind.BATCH, b: items.map(batchItem) });
  t.equal(batch.b[0], '{"type":3}', "a plain PUBLISH is its payload");
  t.equal(batch.b[1], items[1], "a volatile PUBLISH keeps its flag");
  t.equal(batch.b[2], items[2], "a logged PUBLISH keeps its offset");
  t.equal(checkEnvelope(batch as never), null);
  const wire = JSON.parse(JSON.stringify(batch));
  t.same(unbatch(wire), items, "the same envelopes come out, as over a JSON channel");
  const plain = [1, 2, 3].map((i) => envelope<Publish>({ k: Kind.PUBLISH, d: `{"type":${i}}` }));
  const lean = JSON.stringify(envelope<Batch>({ k: Kind.BATCH, b: plain.map(batchItem) })).length;
  t.ok(lean < plain.map((m) => JSON.stringify(m)).join("").length - 40, "bare payloads save about 20 bytes each");
});

t.test("checkEnvelope names what is missing or wrong in each kind", async (t) => {
  const invalid: [Record<string, unknown>, string][] = [
    [{ k: Kind.HELLO, role: "server" }, "HELLO without a uid"],
    [{ k: Kind.HELLO, uid: "", role: "server" }, "HELLO without a uid"],
    [{ k: Kind.HELLO, uid: 5, role: "server" }, "HELLO without a uid"],
    [{ k: Kind.HELLO, uid: "s1" }, "HELLO with an unknown role"],
    [{ k: Kind.HELLO, uid: "s1", role: "client" }, "HELLO with an unknown role"],
    [{ k: Kind.WELCOME }, "WELCOME without a list of servers"],
    [{ k: Kind.WELCOME, servers: {} }, "WELCOME without a list of servers"],
    [{ k: Kind.WELCOME, servers: ["s1"] }, "WELCOME without a list of servers"],
    [{ k: Kind.WELCOME, servers: [[1, []]] }, "WELCOME without a list of servers"],
    [{ k: Kind.WELCOME, servers: [["s1"]] }, "WELCOME without a list of servers"],
    [{ k: Kind.WELCOME, servers: [["s1", [1]]] }, "WELCOME without a list of servers"],
    [{ k: Kind.PUBLISH }, "PUBLISH without a string payload"],
    [{ k: Kind.PUBLISH, d: { type: 3 } }, "PUBLISH without a string payload"],
    [{ k: Kind.RESPONSE, d: "{}" }, "RESPONSE without a recipient"],
    [{ k: Kind.RESPONSE, to: 1, d: "{}" }, "RESPONSE without a recipient"],
    [{ k: Kind.RESPONSE, to: "s1" }, "RESPONSE without a string payload"],
    [{ k: Kind.RESPONSE, to: "s1", d: null }, "RESPONSE without a string payload"],
    [{ k: Kind.NAMESPACE, up: true }, "NAMESPACE without a name"],
    [{ k: Kind.NAMESPACE, n: ["/"], up: true }, "NAMESPACE without a name"],
    [{ k: Kind.NAMESPACE, uid: 1, n: "/", up: true }, "NAMESPACE with a bad uid"],
    [{ k: Kind.NAMESPACE, n: "/" }, "NAMESPACE without up"],
    [{ k: Kind.NAMESPACE, n: "/", up: "yes" }, "NAMESPACE without up"],
    [{ k: Kind.LEFT }, "LEFT without a uid"],
    [{ k: Kind.LEFT, uid: null }, "LEFT without a uid"],
    [{ k: Kind.PUBLISH, d: "{}", v: true }, "PUBLISH with a bad volatile flag"],
    [{ k: Kind.BATCH }, "BATCH with a bad list of envelopes"],
    [{ k: Kind.BATCH, b: "x" }, "BATCH with a bad list of envelopes"],
    [{ k: Kind.BATCH, b: [1] }, "BATCH with a bad list of envelopes"],
    [{ k: Kind.BATCH, b: [null] }, "BATCH with a bad list of envelopes"],
    [{ k: Kind.BATCH, b: [["x"]] }, "BATCH with a bad list of envelopes"],
    [{ k: Kind.BATCH, b: [{ "sio-ipc": 1, k: Kind.BATCH, b: [] }] }, "BATCH with a bad list of envelopes"],
    [{ k: Kind.OVERFLOWED }, "OVERFLOWED without a positive count"],
    [{ k: Kind.OVERFLOWED, c: 0 }, "OVERFLOWED without a positive count"],
    [{ k: Kind.OVERFLOWED, c: -1 }, "OVERFLOWED without a positive count"],
    [{ k: Kind.OVERFLOWED, c: 2.5 }, "OVERFLOWED without a positive count"],
    [{ k: Kind.OVERFLOWED, c: "2" }, "OVERFLOWED without a positive count"],
    [{ k: Kind.OVERFLOWED, c: 2 ** 53 }, "OVERFLOWED without a positive count"],
    [{ k: Kind.OVERFLOWED, c: 2, n: "/" }, 'OVERFLOWED with an unknown field "n"'],
    [{}, "unknown kind undefined"],
    [{ k: 0 }, "unknown kind 0"],
    [{ k: 99 }, "unknown kind 99"],
    [{ k: "1" }, "unknown kind 1"],
  ];
  for (const [fields, reason] of invalid) t.equal(checkEnvelope(own(fields)), reason, JSON.stringify(fields));
});

const opts = { rooms: ["room"], except: [], flags: { volatile: true } };
const base = { uid: "s1", nsp: "/" };

/** A well-formed message of each type, with the ways it can be malformed and the reason given. */
const MESSAGES: [string, Record<string, unknown>, [Record<string, unknown>, string][]][] = [
  ["INITIAL_HEARTBEAT", { type: MessageType.INITIAL_HEARTBEAT }, []],
  ["HEARTBEAT", { type: MessageType.HEARTBEAT }, []],
  ["ADAPTER_CLOSE", { type: MessageType.ADAPTER_CLOSE }, []],
  [
    "BROADCAST",
    { type: MessageType.BROADCAST, data: { opts, packet: { type: 2, data: ["ev", 1], nsp: "/" }, requestId: "r" } },
    [
      [{ data: undefined }, "without data"],
      [{ data: [] }, "without data"],
      [{ data: { opts, packet: { type: 2 }, requestId: 5 } }, "with a bad requestId"],
      [{ data: { packet: { type: 2 } } }, "BROADCAST with bad opts or packet"],
      [{ data: { opts: { rooms: "r", except: [] }, packet: { type: 2 } } }, "BROADCAST with bad opts or packet"],
      [{ data: { opts: { rooms: [], except: [1] }, packet: { type: 2 } } }, "BROADCAST with bad opts or packet"],
      [
        { data: { opts: { rooms: [], except: [], flags: 1 }, packet: { type: 2 } } },
        "BROADCAST with bad opts or packet",
      ],
      [{ data: { opts } }, "BROADCAST with bad opts or packet"],
      [{ data: { opts, packet: { type: "2" } } }, "BROADCAST with bad opts or packet"],
      [{ data: { opts, packet: { type: 2, data: "ev" } } }, "BROADCAST with bad opts or packet"],
    ],
  ],
  [
    "SOCKETS_JOIN",
    { type: MessageType.SOCKETS_JOIN, data: { opts, rooms: ["a"] } },
    [
      [{ data: { opts } }, "with bad opts or rooms"],
      [{ data: { opts, rooms: [1] } }, "with bad opts or rooms"],
      [{ data: { rooms: ["a"] } }, "with bad opts or rooms"],
    ],
  ],
  [
    "SOCKETS_LEAVE",
    { type: MessageType.SOCKETS_LEAVE, data: { opts, rooms: [] } },
    [[{ data: { opts, rooms: "a" } }, "with bad opts or rooms"]],
  ],
  [
    "DISCONNECT_SOCKETS",
    { type: MessageType.DISCONNECT_SOCKETS, data: { opts, close: true } },
    [
      [{ data: { opts, close: "yes" } }, "DISCONNECT_SOCKETS with bad opts"],
      [{ data: { close: true } }, "DISCONNECT_SOCKETS with bad opts"],
    ],
  ],
  [
    "FETCH_SOCKETS",
    { type: MessageType.FETCH_SOCKETS, data: { opts, requestId: "r" } },
    [
      [{ data: { opts } }, "FETCH_SOCKETS with bad opts"],
      [{ data: { requestId: "r" } }, "FETCH_SOCKETS with bad opts"],
    ],
  ],
  [
    "SERVER_SIDE_EMIT",
    { type: MessageType.SERVER_SIDE_EMIT, data: { packet: ["ev", 1, { a: 2 }], requestId: "r" } },
    [
      [{ data: { packet: ["ev"], requestId: 1 } }, "with a bad requestId"],
      [{ data: { packet: [] } }, "SERVER_SIDE_EMIT with a bad packet"],
      [{ data: { packet: [1] } }, "SERVER_SIDE_EMIT with a bad packet"],
      [{ data: { packet: "ev" } }, "SERVER_SIDE_EMIT with a bad packet"],
    ],
  ],
];

const socket = { id: "abc", handshake: { auth: {} }, rooms: ["abc"], data: { any: 1 } };

const RESPONSES: [string, Record<string, unknown>, [Record<string, unknown>, string][]][] = [
  [
    "FETCH_SOCKETS_RESPONSE",
    { type: MessageType.FETCH_SOCKETS_RESPONSE, data: { requestId: "r", sockets: [socket] } },
    [
      [{ data: { sockets: [] } }, "response without a requestId"],
      [{ data: { requestId: "r" } }, "FETCH_SOCKETS_RESPONSE with bad sockets"],
      [{ data: { requestId: "r", sockets: [{ ...socket, id: 1 }] } }, "FETCH_SOCKETS_RESPONSE with bad sockets"],
      [{ data: { requestId: "r", sockets: [{ ...socket, rooms: "a" }] } }, "FETCH_SOCKETS_RESPONSE with bad sockets"],
      [
        { data: { requestId: "r", sockets: [{ ...socket, handshake: null }] } },
        "FETCH_SOCKETS_RESPONSE with bad sockets",
      ],
      [{ data: { requestId: "r", sockets: [null] } }, "FETCH_SOCKETS_RESPONSE with bad sockets"],
    ],
  ],
  [
    "SERVER_SIDE_EMIT_RESPONSE",
    { type: MessageType.SERVER_SIDE_EMIT_RESPONSE, data: { requestId: "r", packet: "pong" } },
    [
      [{ data: undefined }, "without data"],
      [{ data: { requestId: 7, packet: "pong" } }, "response without a requestId"],
    ],
  ],
  [
    "BROADCAST_CLIENT_COUNT",
    { type: MessageType.BROADCAST_CLIENT_COUNT, data: { requestId: "r", clientCount: 0 } },
    [
      [{ data: { requestId: "r" } }, "BROADCAST_CLIENT_COUNT with a bad count"],
      [{ data: { requestId: "r", clientCount: -1 } }, "BROADCAST_CLIENT_COUNT with a bad count"],
      [{ data: { requestId: "r", clientCount: 1.5 } }, "BROADCAST_CLIENT_COUNT with a bad count"],
      [{ data: { requestId: "r", clientCount: "2" } }, "BROADCAST_CLIENT_COUNT with a bad count"],
    ],
  ],
  [
    "BROADCAST_ACK",
    { type: MessageType.BROADCAST_ACK, data: { requestId: "r", packet: [1, "two"] } },
    [[{ data: { packet: [] } }, "response without a requestId"]],
  ],
];

for (const [expect, table] of [
  ["message", MESSAGES],
  ["response", RESPONSES],
] as const) {
  for (const [name, valid, invalid] of table) {
    t.test(`checkClusterMessage accepts a well-formed ${name} and names what is wrong in a bad one`, async (t) => {
      t.equal(checkClusterMessage({ ...base, ...valid }, expect), null, "well formed");
      for (const [change, reason] of invalid) {
        t.equal(checkClusterMessage({ ...base, ...valid, ...change }, expect), reason, JSON.stringify(change));
      }
      t.equal(checkClusterMessage({ ...valid, nsp: "/" }, expect), "without uid or nsp");
      t.equal(checkClusterMessage({ ...valid, uid: "s1" }, expect), "without uid or nsp");
      t.equal(checkClusterMessage({ ...valid, uid: 1, nsp: "/" }, expect), "without uid or nsp");
      const other = expect === "message" ? "response" : "message";
      t.equal(checkClusterMessage({ ...base, ...valid }, other), `of unexpected type ${valid.type}`, `not a ${other}`);
    });
  }
}

t.test("checkClusterMessage rejects what is not a cluster message at all", async (t) => {
  for (const expect of ["message", "response"] as const) {
    for (const value of [null, undefined, "x", 3, [], [{ ...base, type: 2 }]]) {
      t.equal(checkClusterMessage(value, expect), "not an object", `${JSON.stringify(value)} as a ${expect}`);
    }
    t.equal(checkClusterMessage({ ...base }, expect), "without a type");
    t.equal(checkClusterMessage({ ...base, type: "2" }, expect), "without a type");
    t.equal(checkClusterMessage({ ...base, type: 99 }, expect), "of unexpected type 99");
    t.equal(checkClusterMessage({ ...base, type: 0 }, expect), "of unexpected type 0");
  }
});

/** Resolves with the process warnings emitted while `fn` runs (emitWarning delivers them on a later tick). */
async function warningsDuring(fn: () => void): Promise<Error[]> {
  const warnings: Error[] = [];
  const listener = (warning: Error) => warnings.push(warning);
  process.on("warning", listener);
  try {
    fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", listener);
  }
  return warnings.filter((w) => (w as Error & { code?: string }).code === "SIO_IPC_PROTOCOL_MISMATCH");
}

t.test("reportVersionSkew emits one process warning per version, naming both versions", async (t) => {
  const logged: unknown[][] = [];
  const log = (...args: unknown[]) => logged.push(args);
  const warnings = await warningsDuring(() => {
    reportVersionSkew(2, "worker 1", log);
    reportVersionSkew(2, "worker 2", log);
    reportVersionSkew(2, "worker 1", log);
    reportVersionSkew(3, "helper 9", log);
  });
  t.equal(warnings.length, 2, "one for version 2, one for version 3");
  const [two, three] = warnings;
  t.equal(two.name, "Warning");
  t.equal((two as Error & { code?: string }).code, "SIO_IPC_PROTOCOL_MISMATCH");
  t.match(two.message, /protocol version 2 from worker 1/);
  t.match(two.message, /speaks version 1\b/);
  t.match(two.message, /same version of socket\.io-ipc-adapter/, "says what to do");
  t.match(three.message, /protocol version 3 from helper 9/);
  t.equal(logged.length, 4, "every ignored message is logged");
  t.same(logged[1], ["ignore a message of protocol version %o from %s (ours: %d)", 2, "worker 2", PROTOCOL_VERSION]);
  t.same(await warningsDuring(() => reportVersionSkew(2, "worker 3", log)), [], "version 2 never warns again");
});

t.test("reportVersionSkew drops a tag that is no version (not a positive integer) without a warning", async (t) => {
  const logged: unknown[][] = [];
  const log = (...args: unknown[]) => logged.push(args);
  const warnings = await warningsDuring(() => {
    reportVersionSkew(0, "worker 1", log);
    reportVersionSkew(1.5, "worker 1", log);
    reportVersionSkew("2.0", "worker 1", log);
    reportVersionSkew("2.0", "worker 1", log);
    reportVersionSkew(undefined, "worker 1", log);
    reportVersionSkew(undefined, "worker 1", log);
    // A peer that sends a fresh object as its version: one warning, not one per message.
    for (let i = 0; i < 5; i++) reportVersionSkew({ major: 2 }, "worker 1", log);
    for (let i = 0; i < 5; i++) reportVersionSkew([2], "worker 1", log);
  });
  t.same(warnings, [], "no warning names a version that is not one");
  t.equal(logged.length, 16, "each is logged as malformed");
  t.match(String(logged[0][0]), /malformed protocol version/);
});
