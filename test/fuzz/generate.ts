/**
 * Seeded random inputs for the fuzzer: values for the codec, JSON texts and their mutations,
 * cluster messages and envelopes, with the keys and shapes that break naive code (`__proto__`,
 * `constructor`, `prototype`, our reserved keys, wrong types, huge arrays, deep nesting).
 */
import { BINARY_KEY, ESCAPE_KEY } from "../../src/protocol/codec";
import { MESSAGE_SOURCE } from "../../src/protocol/messages";

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let x = this.#state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

export const DANGEROUS_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toJSON",
  "hasOwnProperty",
  "valueOf",
  "toString",
  "__defineGetter__",
  BINARY_KEY,
  ESCAPE_KEY,
  "b64",
  MESSAGE_SOURCE,
] as const;

const FIELD_KEYS = [
  "k",
  "d",
  "o",
  "n",
  "l",
  "to",
  "up",
  "r",
  "id",
  "pid",
  "log",
  "uid",
  "role",
  "servers",
  "nsp",
  "type",
  "data",
  "packet",
  "opts",
  "rooms",
  "except",
  "flags",
  "requestId",
  "sockets",
  "handshake",
  "clientCount",
  "close",
  "",
  "0",
  "length",
];

const KEYS = [...DANGEROUS_KEYS, ...FIELD_KEYS];

const STRING_PIECES = [
  "a",
  "room",
  "/",
  '"',
  "\\",
  "\u0000",
  "é",
  "😀",
  "\ud800",
  "\udc00",
  "{",
  "}",
  "[",
  "]",
  ":",
  ",",
  "null",
  "$sioipc:",
  ...KEYS,
];

/** Sets a property on a plain object, an own `__proto__` included, as JSON.parse would. */
export function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function randomString(rng: Rng, max = 12): string {
  if (rng.chance(0.01)) return "x".repeat(rng.int(20_000));
  let text = "";
  const parts = rng.int(max);
  for (let i = 0; i < parts; i++)
    text += rng.chance(0.5) ? rng.pick(STRING_PIECES) : String.fromCharCode(rng.int(0x3000));
  return text;
}

function randomNumber(rng: Rng): number {
  return rng.pick([0, -0, 1, -1, 2 ** 53, -(2 ** 31), 0.5, Number.MAX_VALUE, Number.NaN, Infinity, rng.int(1000)]);
}

/** A value JSON can carry (what arrives over IPC): null, booleans, numbers, strings, arrays, objects. */
export function randomJson(rng: Rng, depth = 0): unknown {
  const roll = rng.int(depth > 4 ? 4 : 7);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2: {
      const n = randomNumber(rng);
      return Number.isFinite(n) ? n : 0;
    }
    case 3:
      return randomString(rng);
    case 4:
    case 5: {
      const list: unknown[] = [];
      const length = rng.int(5);
      for (let i = 0; i < length; i++) list.push(randomJson(rng, depth + 1));
      return list;
    }
    default: {
      const record: Record<string, unknown> = {};
      const size = rng.int(5);
      for (let i = 0; i < size; i++)
        put(record, rng.chance(0.7) ? rng.pick(KEYS) : randomString(rng, 4), randomJson(rng, depth + 1));
      return record;
    }
  }
}

export const VIEW_TYPES = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

function randomBinary(rng: Rng): unknown {
  const bytes = new Uint8Array(8 * rng.int(8));
  for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
  switch (rng.int(5)) {
    case 0:
      return Buffer.from(bytes);
    case 1:
      return bytes.buffer;
    case 2:
      return new DataView(bytes.buffer, rng.int(Math.max(1, bytes.length)));
    default: {
      const View = rng.pick(VIEW_TYPES);
      return new View(bytes.buffer);
    }
  }
}

/** A nesting of `depth` arrays or objects around a value. */
export function nested(depth: number, asObject: boolean, inner: unknown = 1): unknown {
  let value = inner;
  for (let i = 0; i < depth; i++) value = asObject ? { a: value } : [value];
  return value;
}

/**
 * A value a user might emit: everything randomJson gives, plus binary, dates, maps, functions,
 * symbols, undefined, toJSON, null prototypes, sparse arrays, and rarely a BigInt, a cycle or a
 * nesting around the codec's limit.
 */
export function randomValue(rng: Rng, depth = 0): unknown {
  const roll = rng.int(depth > 3 ? 12 : 18);
  switch (roll) {
    case 0:
      return undefined;
    case 1:
      return randomBinary(rng);
    case 2:
      return new Date(rng.int(2 ** 40));
    case 3:
      return rng.chance(0.5) ? new Map([[1, 2]]) : new Set([1]);
    case 4:
      return rng.chance(0.5) ? () => 1 : Symbol("s");
    case 5:
      return randomNumber(rng);
    case 6:
      return rng.chance(0.02) ? BigInt(rng.int(100)) : randomString(rng);
    case 7:
    case 8:
    case 9:
    case 10:
    case 11:
      return randomJson(rng, depth);
    case 12: {
      const record = rng.chance(0.5) ? Object.create(null) : {};
      const size = rng.int(4);
      for (let i = 0; i < size; i++) put(record, rng.pick(KEYS), randomValue(rng, depth + 1));
      return record;
    }
    case 13: {
      const list: unknown[] = new Array(rng.int(6));
      for (let i = 0; i < list.length; i++) if (rng.chance(0.7)) list[i] = randomValue(rng, depth + 1);
      return list;
    }
    case 14: {
      const inner = randomValue(rng, depth + 1);
      return { toJSON: () => inner, ignored: true };
    }
    case 15: {
      if (rng.chance(0.9)) return { [rng.pick(DANGEROUS_KEYS)]: randomValue(rng, depth + 1) };
      const cycle: Record<string, unknown> = { a: 1 };
      cycle.self = rng.chance(0.5) ? cycle : [cycle];
      return cycle;
    }
    case 16:
      return nested(rng.pick([998, 999, 1_000, 1_001, 1_500]), rng.chance(0.5), rng.chance(0.3) ? Buffer.from([1]) : 1);
    default: {
      const list: unknown[] = [];
      const length = rng.chance(0.05) ? 50_000 : 100;
      for (let i = 0; i < length; i++) list.push(i);
      return list;
    }
  }
}

const TOKENS = [
  `{"${BINARY_KEY}":"Buffer","b64":"AAEC"}`,
  `{"${BINARY_KEY}":"Float64Array","b64":"AAE="}`,
  `{"${BINARY_KEY}":"__proto__","b64":""}`,
  `{"${BINARY_KEY}":"constructor","b64":""}`,
  `{"${BINARY_KEY}":1}`,
  `{"${ESCAPE_KEY}":1}`,
  `{"${ESCAPE_KEY}":[1]}`,
  `{"${ESCAPE_KEY}":{"__proto__":{"polluted":1}}}`,
  `{"__proto__":{"polluted":1}}`,
  `"__proto__":{"polluted":1},`,
  `{"constructor":{"prototype":{"polluted":1}}}`,
  `{"prototype":{"polluted":1}}`,
  "1e999",
  "-0",
  '"\\ud800"',
  "null",
  "[[[[[[[[",
  "]]]]",
  '"',
  "\\",
  ",",
  ":",
];

/** A JSON text nested `depth` deep, plain or through our escape key. */
export function deepText(depth: number, escaped: boolean): string {
  const open = escaped ? `{"${ESCAPE_KEY}":{"a":` : '{"a":';
  const close = escaped ? "}}" : "}";
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
}

export function hugeArrayText(length: number): string {
  return `[${"1,".repeat(length - 1)}1]`;
}

/** Flips, deletes, duplicates, truncates or splices tokens into a text. */
export function mutateText(rng: Rng, text: string): string {
  let out = text;
  const edits = 1 + rng.int(3);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(6)) {
      case 0:
        out = out.slice(0, at) + String.fromCharCode(rng.int(128)) + out.slice(at + 1);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1 + rng.int(8));
        break;
      case 2:
        out = out.slice(0, at) + out.slice(at, at + rng.int(16)) + out.slice(at);
        break;
      case 3:
        out = out.slice(0, at);
        break;
      default:
        out = out.slice(0, at) + rng.pick(TOKENS) + out.slice(at);
    }
  }
  return out;
}
