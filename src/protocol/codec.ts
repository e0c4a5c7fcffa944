/**
 * The only code that turns payloads into IPC-safe strings and back. Node's IPC channel (JSON by
 * default) would turn a Buffer into `{"type":"Buffer","data":[…]}`; the codec tags binary values so
 * that they arrive as the same type on every worker, whatever the cluster's `serialization`.
 *
 * Encoding is JSON with two reserved keys:
 * - `{ "$sioipc:bin": "Uint8Array", "b64": "…" }` is a binary value (Buffer, ArrayBuffer, DataView,
 *   any typed array), its bytes in base64;
 * - `{ "$sioipc:esc": {…} }` wraps a user object that has one of these keys itself, so that no
 *   payload can forge a binary value.
 */
import { ErrorCode, IpcAdapterError, MessageTooLargeError } from "../errors";

export const BINARY_KEY = "$sioipc:bin";
export const ESCAPE_KEY = "$sioipc:esc";
/** Present in an encoded string if and only if a value was tagged or escaped: lets decode skip its walk. */
const MARKER = '"$sioipc:';

/** Nesting deeper than this is refused: a stack overflow must not reach a worker. */
export const MAX_DEPTH = 1_000;

const TYPED_ARRAYS = {
  Buffer,
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
} as const;
type BinaryType = keyof typeof TYPED_ARRAYS | "ArrayBuffer" | "DataView";
/** The typed arrays, Buffer excepted (Buffer.isBuffer finds it first). */
const VIEW_TYPES = (Object.keys(TYPED_ARRAYS) as (keyof typeof TYPED_ARRAYS)[]).filter((name) => name !== "Buffer");

function binaryType(value: object): BinaryType | null {
  if (value instanceof ArrayBuffer) return "ArrayBuffer";
  if (!ArrayBuffer.isView(value)) return null;
  if (Buffer.isBuffer(value)) return "Buffer";
  if (value instanceof DataView) return "DataView";
  // instanceof, not constructor.name: a subclass (class Samples extends Float32Array) keeps its element type.
  for (const name of VIEW_TYPES) if (value instanceof TYPED_ARRAYS[name]) return name;
  return "Uint8Array";
}

function bytesOf(value: ArrayBuffer | ArrayBufferView): Buffer {
  return value instanceof ArrayBuffer
    ? Buffer.from(value)
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Thrown when a value cannot be encoded; decode errors are plain Errors, caught by the receiver. */
export class UnserializableError extends IpcAdapterError {
  constructor(reason: string, path: string, options?: ErrorOptions) {
    super(
      ErrorCode.UNSERIALIZABLE,
      `cannot send ${reason} at ${path} between processes; convert it to a string, a number, a plain object or a Buffer before emitting`,
      options,
    );
    this.name = "UnserializableError";
  }
}

function isTagged(value: object): boolean {
  return Object.hasOwn(value, BINARY_KEY) || Object.hasOwn(value, ESCAPE_KEY);
}

/**
 * A cheap walk: does the value hold anything that plain JSON.stringify would get wrong?
 * `jsonApplied` is true for what a toJSON() returned: JSON.stringify applies toJSON once, not to its result.
 */
function needsTransform(value: unknown, depth: number, jsonApplied = false): boolean {
  if (typeof value !== "object" || value === null) return false;
  // Same limit as transform(): an object with MAX_DEPTH ancestors is refused on either path.
  if (depth >= MAX_DEPTH) return true;
  if (binaryType(value) !== null) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (needsTransform(value[i], depth + 1)) return true;
    }
    return false;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  // What toJSON returns may hold binary or a reserved key (Date.prototype.toJSON returns a string: cheap).
  if (!jsonApplied && typeof toJSON === "function") return needsTransform(toJSON.call(value), depth, true);
  if (isTagged(value)) return true;
  for (const key in value) {
    if (Object.hasOwn(value, key) && needsTransform((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/** Sets a property, even one named `__proto__`, without ever touching a prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

const OMIT = Symbol("omit");

/**
 * Runs user code met during the walk: a getter or a toJSON method. What it throws makes that one
 * value unsendable: left out when lenient (a worker must always be able to answer fetchSockets,
 * whatever its socket.data), an UnserializableError otherwise.
 */
function guarded(run: () => unknown, lenient: boolean, path: string): unknown {
  try {
    return run();
  } catch (error) {
    if (lenient) return OMIT;
    throw new UnserializableError("a value whose getter or toJSON() throws", path, { cause: error });
  }
}

/**
 * Builds the JSON-ready copy of a value. `lenient` leaves out what cannot be sent (as JSON.stringify
 * leaves out functions); otherwise it throws an UnserializableError naming the path.
 */
function transform(
  value: unknown,
  lenient: boolean,
  ancestors: Set<object>,
  path: string,
  jsonApplied = false,
): unknown {
  const type = typeof value === "object" && value !== null ? binaryType(value) : null;
  if (type !== null) {
    return { [BINARY_KEY]: type, b64: bytesOf(value as ArrayBufferView).toString("base64") };
  }
  // As JSON.stringify: toJSON (of an object, or BigInt.prototype.toJSON if the app defines one) once.
  if (!jsonApplied && ((typeof value === "object" && value !== null) || typeof value === "bigint")) {
    const toJSON = guarded(() => (value as { toJSON?: unknown }).toJSON, lenient, path);
    if (toJSON === OMIT) return OMIT;
    if (typeof toJSON === "function") {
      const json = guarded(() => toJSON.call(value), lenient, path);
      return json === OMIT ? OMIT : transform(json, lenient, ancestors, path, true);
    }
  }
  if (typeof value === "bigint") {
    if (lenient) return OMIT;
    throw new UnserializableError("a BigInt", path);
  }
  if (typeof value === "function" || typeof value === "symbol") return OMIT;
  if (typeof value !== "object" || value === null) return value;
  if (ancestors.has(value)) {
    if (lenient) return OMIT;
    throw new UnserializableError("a circular reference", path);
  }
  if (ancestors.size >= MAX_DEPTH) {
    if (lenient) return OMIT;
    throw new UnserializableError(`an object nested deeper than ${MAX_DEPTH} levels`, path);
  }
  ancestors.add(value);
  let result: unknown;
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = transform(value[i], lenient, ancestors, `${path}[${i}]`);
      copy[i] = item === OMIT ? null : item;
    }
    result = copy;
  } else {
    const copy: Record<string, unknown> = {};
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const raw = guarded(() => (value as Record<string, unknown>)[key], lenient, `${path}.${key}`);
      const item = raw === OMIT ? OMIT : transform(raw, lenient, ancestors, `${path}.${key}`);
      if (item !== OMIT && item !== undefined) define(copy, key, item);
    }
    result = isTagged(value) ? { [ESCAPE_KEY]: copy } : copy;
  }
  ancestors.delete(value);
  return result;
}

/**
 * Encodes a value for the wire. Throws an UnserializableError (code `SIO_IPC_ERR_UNSERIALIZABLE`)
 * for a BigInt, a circular reference or too deep a nesting, naming where it is.
 *
 * @param name how to name the value in an error, e.g. `args`
 */
export function encode(value: unknown, name = "value"): string {
  try {
    return JSON.stringify(needsTransform(value, 0) ? transform(value, false, new Set(), name) : value);
  } catch (err) {
    if (err instanceof UnserializableError) throw err;
    // JSON.stringify found a BigInt or a cycle that the cheap walk does not look for: find where.
    transform(value, false, new Set(), name);
    throw new UnserializableError("a value", name, { cause: err });
  }
}

/**
 * Encodes a value for the wire, leaving out what cannot be sent (BigInt, circular references,
 * functions) instead of throwing. For answers (fetchSockets, acknowledgements): a worker must
 * always be able to answer.
 */
export function encodeLenient(value: unknown): string {
  try {
    return encode(value);
  } catch {
    return JSON.stringify(transform(value, true, new Set(), "value"));
  }
}

function toBinary(tagged: Record<string, unknown>): unknown {
  const type = tagged[BINARY_KEY];
  const b64 = tagged.b64;
  if (typeof type !== "string" || typeof b64 !== "string") throw new Error("malformed binary value");
  const bytes = Buffer.from(b64, "base64");
  if (type === "Buffer") return bytes;
  // A fresh, aligned ArrayBuffer: Buffer.from may return a view into a shared pool.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (type === "ArrayBuffer") return buffer;
  if (type === "DataView") return new DataView(buffer);
  if (!Object.hasOwn(TYPED_ARRAYS, type)) throw new Error(`unknown binary type ${type}`);
  const View = TYPED_ARRAYS[type as keyof typeof TYPED_ARRAYS] as unknown as new (b: ArrayBuffer) => unknown;
  if (bytes.byteLength % (View as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT !== 0) {
    throw new Error(`${bytes.byteLength} bytes do not make a ${type}`);
  }
  return new View(buffer);
}

function revive(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) throw new Error(`payload nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], depth + 1);
    return value;
  }
  const record = value as Record<string, unknown>;
  if (Object.hasOwn(record, BINARY_KEY)) return toBinary(record);
  const target = Object.hasOwn(record, ESCAPE_KEY) ? record[ESCAPE_KEY] : record;
  if (typeof target !== "object" || target === null || Array.isArray(target)) throw new Error("malformed escape");
  for (const key of Object.keys(target)) {
    define(target as Record<string, unknown>, key, revive((target as Record<string, unknown>)[key], depth + 1));
  }
  return target;
}

/** Decodes a string made by encode(). Throws a plain Error on malformed input: the caller drops it. */
export function decode(text: string): unknown {
  const value: unknown = JSON.parse(text);
  return text.includes(MARKER) ? revive(value, 0) : value;
}

/**
 * The size in UTF-8 bytes of an encoded message when it is larger than `limit`, or -1. O(1) unless
 * the text is longer than a third of the limit: a UTF-16 code unit takes 1 to 3 UTF-8 bytes.
 */
export function sizeAbove(text: string, limit: number): number {
  if (text.length * 3 <= limit) return -1;
  const size = Buffer.byteLength(text);
  return size > limit ? size : -1;
}

/** Throws a MessageTooLargeError (code `SIO_IPC_ERR_MESSAGE_TOO_LARGE`) when `text` is larger than `limit` bytes. */
export function checkSize(text: string, limit: number): string {
  const size = sizeAbove(text, limit);
  if (size !== -1) throw new MessageTooLargeError(size, limit);
  return text;
}
