import t, { type Test } from "tap";
import { ErrorCode, IpcAdapterError } from "../../src/errors";
import {
  BINARY_KEY,
  decode,
  ESCAPE_KEY,
  encode,
  encodeLenient,
  MAX_DEPTH,
  UnserializableError,
} from "../../src/protocol/codec";

type View = ArrayBufferView & { constructor: unknown };
type ViewConstructor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => View;

// Every binary type the codec promises, each made from 16 known bytes of a given ArrayBuffer.
const VIEWS: [string, ViewConstructor, number][] = [
  ["Int8Array", Int8Array, 1],
  ["Uint8Array", Uint8Array, 1],
  ["Uint8ClampedArray", Uint8ClampedArray, 1],
  ["Int16Array", Int16Array, 2],
  ["Uint16Array", Uint16Array, 2],
  ["Int32Array", Int32Array, 4],
  ["Uint32Array", Uint32Array, 4],
  ["Float32Array", Float32Array, 4],
  ["Float64Array", Float64Array, 8],
  ["BigInt64Array", BigInt64Array, 8],
  ["BigUint64Array", BigUint64Array, 8],
  ["DataView", DataView as unknown as ViewConstructor, 1],
];

/** 64 bytes with values 0x80.., so that signed types hold negative numbers. */
function bigBuffer(): ArrayBuffer {
  const buffer = new ArrayBuffer(64);
  new Uint8Array(buffer).forEach((_, i, a) => {
    a[i] = 0x80 + i;
  });
  return buffer;
}

function bytes(value: ArrayBuffer | ArrayBufferView): number[] {
  return value instanceof ArrayBuffer
    ? [...new Uint8Array(value)]
    : [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)];
}

const roundTrip = <T>(value: T): T => decode(encode(value)) as T;

/** What JSON.stringify would give, for the non-binary behaviours the codec must copy. */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

function sameBinary(t: Test, got: unknown, sent: ArrayBuffer | ArrayBufferView, type: unknown): void {
  t.equal(Object.getPrototypeOf(got), (type as { prototype: object }).prototype, "the same type");
  t.same(bytes(got as ArrayBufferView), bytes(sent), "the same bytes");
}

for (const [name, View, size] of VIEWS) {
  t.test(`a ${name} round-trips as a ${name} with the same bytes, alone and nested`, async (t) => {
    const whole = new View(bigBuffer());
    sameBinary(t, roundTrip(whole), whole, View);
    const nested = roundTrip({ a: { list: [1, whole, "x"] }, b: [[whole]] });
    sameBinary(t, nested.a.list[1], whole, View);
    sameBinary(t, nested.b[0][0], whole, View);
    t.same([nested.a.list[0], nested.a.list[2]], [1, "x"]);
  });

  t.test(`a ${name} over a slice of a larger ArrayBuffer carries only its own bytes`, async (t) => {
    const view = new View(bigBuffer(), 8, 16 / size);
    const got = roundTrip([view])[0];
    sameBinary(t, got, view, View);
    t.equal((got as ArrayBufferView).byteLength, 16);
    t.equal((got as ArrayBufferView).byteOffset % size, 0, "aligned for its element size");
  });
}

t.test("a Buffer round-trips as a Buffer with the same bytes, alone, nested and sliced", async (t) => {
  const buffer = Buffer.from(bigBuffer());
  const got = roundTrip(buffer);
  t.ok(Buffer.isBuffer(got));
  t.same(bytes(got), bytes(buffer));
  const slice = buffer.subarray(5, 12);
  const nested = roundTrip({ deep: [{ slice }] });
  t.ok(Buffer.isBuffer(nested.deep[0].slice));
  t.same(bytes(nested.deep[0].slice), bytes(slice));
  t.notMatch(encode({ buffer }), /"type":"Buffer"/, "never Node's {type, data} form");
});

t.test("an ArrayBuffer round-trips as an ArrayBuffer with the same bytes, alone and nested", async (t) => {
  const buffer = bigBuffer();
  sameBinary(t, roundTrip(buffer), buffer, ArrayBuffer);
  const nested = roundTrip({ a: [buffer, { b: buffer }] });
  sameBinary(t, nested.a[0], buffer, ArrayBuffer);
  sameBinary(t, (nested.a[1] as { b: ArrayBuffer }).b, buffer, ArrayBuffer);
  sameBinary(t, roundTrip(new ArrayBuffer(0)), new ArrayBuffer(0), ArrayBuffer);
});

t.test("a Uint8Array is not turned into a Buffer, nor a Buffer into a Uint8Array", async (t) => {
  const got = roundTrip({ u: new Uint8Array([1, 2]), b: Buffer.from([1, 2]) });
  t.notOk(Buffer.isBuffer(got.u));
  t.equal(Object.getPrototypeOf(got.u), Uint8Array.prototype);
  t.ok(Buffer.isBuffer(got.b));
});

t.test("a subclass of a typed array arrives as its base type, with its elements", async (t) => {
  class Samples extends Float32Array {}
  const got = roundTrip(new Samples([1.5, -2.25]));
  t.equal(Object.getPrototypeOf(got), Float32Array.prototype);
  t.same([...(got as Float32Array)], [1.5, -2.25]);
});

t.test("a user object that owns a reserved key survives unchanged and is not read as binary", async (t) => {
  const forged = { [BINARY_KEY]: "Buffer", b64: "AQID" };
  t.same(roundTrip(forged), forged);
  t.notOk(Buffer.isBuffer(roundTrip(forged)));
  const escaped = { [ESCAPE_KEY]: { [BINARY_KEY]: "Buffer", b64: "AQID" }, other: 1 };
  t.same(roundTrip(escaped), escaped);
  t.same(roundTrip({ [ESCAPE_KEY]: 5 }), { [ESCAPE_KEY]: 5 });
  t.same(roundTrip([{ list: [forged, { [ESCAPE_KEY]: null }] }]), [{ list: [forged, { [ESCAPE_KEY]: null }] }]);
  const withBinary = roundTrip({ [BINARY_KEY]: "x", data: Buffer.from([7]) });
  t.equal(withBinary[BINARY_KEY], "x");
  t.ok(Buffer.isBuffer(withBinary.data), "binary inside an escaped object is still binary");
});

t.test("a string that looks like a tag stays a string", async (t) => {
  const text = JSON.stringify({ [BINARY_KEY]: "Buffer", b64: "AQID" });
  t.same(roundTrip({ text, [`${BINARY_KEY}x`]: 1 }), { text, [`${BINARY_KEY}x`]: 1 });
});

t.test("a toJSON that returns a reserved key cannot forge binary", async (t) => {
  const sneaky = { toJSON: () => ({ [BINARY_KEY]: "Buffer", b64: "AQID" }) };
  const got = roundTrip({ sneaky });
  t.notOk(Buffer.isBuffer(got.sneaky));
  t.same(got.sneaky, { [BINARY_KEY]: "Buffer", b64: "AQID" });
});

const PROTO_JSON = '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"prototype":{"polluted":3}}';

for (const [path, extra] of [
  ["plain", {}],
  ["binary", { bin: Buffer.from([1]) }],
  ["escaped", { [BINARY_KEY]: "x" }],
] as const) {
  t.test(`__proto__, constructor and prototype keys round-trip as own data (${path} path)`, async (t) => {
    const value = Object.assign(JSON.parse(PROTO_JSON), extra);
    const got = roundTrip({ nested: [value] }).nested[0];
    t.equal(Object.getPrototypeOf(got), Object.prototype, "the prototype is untouched");
    t.same(Object.getOwnPropertyDescriptor(got, "__proto__")?.value, { polluted: 1 });
    t.same(Object.getOwnPropertyDescriptor(got, "constructor")?.value, { prototype: { polluted: 2 } });
    t.same(got.prototype, { polluted: 3 });
    t.equal(({} as { polluted?: unknown }).polluted, undefined, "Object.prototype is never modified");
    t.notOk(Object.hasOwn(Object.prototype, "polluted"));
  });
}

for (const [path, extra] of [
  ["plain", {}],
  ["binary", { bin: Buffer.from([1]) }],
] as const) {
  t.test(`Dates, toJSON, functions and undefined behave as JSON does (${path} path)`, async (t) => {
    const value = {
      at: new Date(0),
      custom: { toJSON: () => ({ shown: true }) },
      fn() {},
      missing: undefined,
      sym: Symbol("s"),
      list: [undefined, () => 1, Symbol("s"), new Date(1), Number.NaN],
      [Symbol("key")]: 1,
    };
    const { bin, ...rest } = roundTrip({ ...value, ...extra }) as Record<string, unknown>;
    t.same(rest, asJson(value));
    t.same(rest.at, "1970-01-01T00:00:00.000Z");
    t.same(rest.list, [null, null, null, "1970-01-01T00:00:00.001Z", null]);
    t.notOk("fn" in rest || "missing" in rest || "sym" in rest);
    if (bin) t.ok(Buffer.isBuffer(bin));
  });
}

t.test("binary inside what toJSON returns still arrives as binary", async (t) => {
  const payload = { toJSON: () => ({ kind: "frame", body: Buffer.from([1, 2, 3]) }) };
  const got = roundTrip({ payload }).payload as unknown as { kind: string; body: Buffer };
  t.equal(got.kind, "frame");
  t.ok(Buffer.isBuffer(got.body));
  t.same([...got.body], [1, 2, 3]);
});

t.test("a toJSON that returns its own object is applied once, as JSON.stringify does", async (t) => {
  const self = {
    a: 1,
    toJSON() {
      return this;
    },
  };
  t.same(roundTrip({ self }), asJson({ self }));
  t.same(roundTrip({ self, bin: Buffer.from([1]) }).self, { a: 1 });
});

t.test(
  "a toJSON that nests its own object ever deeper throws an UnserializableError, not a stack overflow",
  async (t) => {
    const endless = {
      toJSON() {
        return { inner: this };
      },
    };
    t.throws(() => encode({ endless }), { code: ErrorCode.UNSERIALIZABLE, message: /nested deeper than 1000/ });
    t.throws(() => encode({ endless, bin: Buffer.alloc(1) }), { code: ErrorCode.UNSERIALIZABLE });
    t.doesNotThrow(() => encodeLenient({ endless }));
  },
);

t.test("an error thrown by toJSON reaches the caller as an UnserializableError, with its cause", async (t) => {
  const broken = {
    toJSON() {
      throw new Error("broken toJSON");
    },
  };
  t.throws(() => encode({ broken }), { code: "SIO_IPC_ERR_UNSERIALIZABLE", cause: { message: "broken toJSON" } });
  t.same(JSON.parse(encodeLenient({ broken, kept: 1 })), { kept: 1 }, "lenient encoding leaves it out");
});

function expectUnserializable(t: Test, fn: () => unknown, path: string, reason: RegExp): void {
  try {
    fn();
    t.fail("should have thrown");
  } catch (error) {
    t.type(error, UnserializableError);
    t.type(error, IpcAdapterError);
    t.equal((error as UnserializableError).code, ErrorCode.UNSERIALIZABLE);
    t.equal((error as UnserializableError).code, "SIO_IPC_ERR_UNSERIALIZABLE");
    t.equal((error as Error).name, "UnserializableError");
    t.match((error as Error).message, reason);
    const shown = path.length > 60 ? `${path.slice(0, 30)}…${path.slice(-20)}` : path;
    t.ok((error as Error).message.includes(` at ${path} `), `names the path ${shown}`);
  }
}

function chain(levels: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

t.test("a BigInt throws an UnserializableError that names its path", async (t) => {
  expectUnserializable(t, () => encode(1n), "value", /BigInt/);
  expectUnserializable(t, () => encode({ a: { b: [1, 2n] } }, "args"), "args.a.b[1]", /BigInt/);
  expectUnserializable(t, () => encode({ bin: Buffer.alloc(1), n: 2n }), "value.n", /BigInt/);
  expectUnserializable(t, () => encode({ viaToJSON: { toJSON: () => ({ n: 3n }) } }), "value.viaToJSON.n", /BigInt/);
});

t.test("a BigInt.prototype.toJSON defined by the app is used, as JSON.stringify does", async (t) => {
  const proto = BigInt.prototype as unknown as { toJSON?: () => string };
  proto.toJSON = function (this: bigint) {
    return `${this}n`;
  };
  t.teardown(() => {
    delete proto.toJSON;
  });
  t.same(roundTrip({ n: 5n }), { n: "5n" });
  t.same(roundTrip({ n: 5n, bin: Buffer.alloc(1) }).n, "5n");
});

t.test("a circular reference throws an UnserializableError that names its path", async (t) => {
  const a: Record<string, unknown> = { x: {} };
  (a.x as Record<string, unknown>).self = a;
  expectUnserializable(t, () => encode(a), "value.x.self", /circular/);
  const list: unknown[] = [1];
  list.push({ back: list });
  expectUnserializable(t, () => encode({ list, bin: Buffer.alloc(1) }), "value.list[1].back", /circular/);
});

t.test("a value seen twice without a cycle is not circular", async (t) => {
  const shared = { n: 1 };
  t.same(roundTrip({ a: shared, b: [shared, shared] }), { a: { n: 1 }, b: [{ n: 1 }, { n: 1 }] });
});

t.test(`nesting up to ${MAX_DEPTH} levels is sent, deeper throws an UnserializableError`, async (t) => {
  t.same(roundTrip(chain(MAX_DEPTH)), chain(MAX_DEPTH));
  t.same(roundTrip([chain(MAX_DEPTH - 1), Buffer.from([1])])[0], chain(MAX_DEPTH - 1));
  const depthPath = `value${".a".repeat(MAX_DEPTH)}`;
  expectUnserializable(t, () => encode(chain(MAX_DEPTH + 1, {})), depthPath, /nested deeper than 1000/);
  expectUnserializable(t, () => encode(chain(MAX_DEPTH + 1)), depthPath, /nested deeper than 1000/);
  expectUnserializable(t, () => encode(chain(MAX_DEPTH + 1, Buffer.from([1]))), depthPath, /nested deeper/);
  expectUnserializable(t, () => encode(chain(100_000)), depthPath, /nested deeper/);
});

t.test("encodeLenient drops what cannot be sent and keeps the rest", async (t) => {
  const a: Record<string, unknown> = { keep: "yes", bin: Buffer.from([9]), n: 1n, fn: () => 1 };
  a.self = a;
  const got = decode(encodeLenient({ a, list: [1n, a, 2], deep: chain(MAX_DEPTH + 5) })) as any;
  t.same(Object.keys(got.a).sort(), ["bin", "keep"]);
  t.ok(Buffer.isBuffer(got.a.bin));
  t.same(got.list[0], null, "a BigInt in an array becomes null, as a function would");
  t.equal(got.list[1].keep, "yes");
  t.notOk("self" in got.list[1]);
  t.equal(got.list[2], 2);
  let depth = 0;
  for (let node = got.deep; node?.a !== undefined; node = node.a) depth++;
  t.ok(depth < MAX_DEPTH, "the part nested too deep is dropped");
});

t.test("encodeLenient gives the same string as encode for a value that can be sent", async (t) => {
  const value = { a: [1, "x", Buffer.from([1])], [BINARY_KEY]: 1 };
  t.equal(encodeLenient(value), encode(value));
});

t.test("encode gives a string that survives Node's JSON IPC serialization", async (t) => {
  const value = { b: Buffer.from([1, 2]), f: new Float64Array([0.5]), nested: { [ESCAPE_KEY]: {} } };
  const text = encode(value);
  t.type(text, "string");
  const got = decode(JSON.parse(JSON.stringify(text))) as typeof value;
  t.same([...got.b], [1, 2]);
  t.same([...got.f], [0.5]);
  t.same(got.nested, { [ESCAPE_KEY]: {} });
});

function expectDecodeError(t: Test, text: string, message?: RegExp): void {
  try {
    decode(text);
    t.fail(`decode(${text.slice(0, 60)}) should have thrown`);
  } catch (error) {
    t.type(error, Error);
    t.notOk(error instanceof IpcAdapterError, "a plain Error, not an UnserializableError");
    if (message) t.match((error as Error).message, message);
  }
}

const tag = (type: unknown, b64: unknown) => JSON.stringify({ x: { [BINARY_KEY]: type, b64 } });

t.test("decode rejects bad JSON with an Error", async (t) => {
  for (const text of ["", "{", "{'a':1}", "undefined", '{"a":1}}']) expectDecodeError(t, text);
});

t.test("decode rejects an unknown binary type with an Error", async (t) => {
  for (const type of ["Nope", "constructor", "toString", "__proto__", "Object", "hasOwnProperty"]) {
    expectDecodeError(t, tag(type, "AQID"), /unknown binary type/);
  }
});

t.test("decode rejects a malformed binary value with an Error", async (t) => {
  expectDecodeError(t, tag(1, "AQID"), /malformed binary/);
  expectDecodeError(t, tag("Buffer", 5), /malformed binary/);
  expectDecodeError(t, tag("Buffer", undefined), /malformed binary/);
});

t.test("decode rejects a byte length that does not fit the type with an Error", async (t) => {
  for (const type of ["Uint16Array", "Int32Array", "Float32Array", "Float64Array", "BigInt64Array"]) {
    expectDecodeError(t, tag(type, Buffer.from([1, 2, 3]).toString("base64")), /3 bytes do not make a/);
  }
});

t.test("decode rejects a malformed escape with an Error", async (t) => {
  for (const inner of ["1", "null", "[1]", '"x"']) {
    expectDecodeError(t, `{"a":{"${ESCAPE_KEY}":${inner}}}`, /malformed escape/);
  }
});

t.test("decode rejects a tagged payload nested too deep with an Error, not a stack overflow", async (t) => {
  for (const levels of [MAX_DEPTH + 2, 200_000]) {
    const text = `${"[".repeat(levels)}${tag("Buffer", "AQ==")}${"]".repeat(levels)}`;
    expectDecodeError(t, text, /nested deeper than 1000/);
  }
});
