import t, { type Test } from "tap";
import { createAdapter } from "../../src/adapter";
import { ErrorCode, InvalidOptionRangeError, InvalidOptionTypeError } from "../../src/errors";
import {
  type AdapterOptions,
  checkMilliseconds,
  checkOptionsObject,
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_TIMEOUT,
  DEFAULT_REQUESTS_TIMEOUT,
  resolveAdapterOptions,
} from "../../src/options";
import { setupPrimary } from "../../src/primary";

const FIELDS = ["heartbeatInterval", "heartbeatTimeout", "requestsTimeout"] as const;

type Kind = "type" | "range";

/** Checks the class, the name, the code and the exact message of an option error. */
function expectOptionError(t: Test, fn: () => unknown, kind: Kind, message: string): void {
  try {
    fn();
    t.fail(`should have thrown: ${message}`);
  } catch (error) {
    const e = error as Error & { code?: string };
    if (kind === "type") {
      t.type(e, TypeError);
      t.type(e, InvalidOptionTypeError);
      t.equal(e.name, "InvalidOptionTypeError");
    } else {
      t.type(e, RangeError);
      t.type(e, InvalidOptionRangeError);
      t.equal(e.name, "InvalidOptionRangeError");
    }
    t.equal(e.code, ErrorCode.INVALID_OPTION);
    t.equal(e.code, "SIO_IPC_ERR_INVALID_OPTION");
    t.equal(e.message, message);
  }
}

t.test("the defaults are 5000, 10000 and 5000 ms", async (t) => {
  t.equal(DEFAULT_HEARTBEAT_INTERVAL, 5_000);
  t.equal(DEFAULT_HEARTBEAT_TIMEOUT, 10_000);
  t.equal(DEFAULT_REQUESTS_TIMEOUT, 5_000);
  // pm2 and group stay null: the worker detects PM2 and its app name (test/unit/pm2-options.test.ts).
  const expected = {
    heartbeatInterval: 5_000,
    heartbeatTimeout: 10_000,
    requestsTimeout: 5_000,
    maxMessageSize: 67_108_864,
    pm2: null,
    group: null,
  };
  t.same(resolveAdapterOptions(), expected);
  t.same(resolveAdapterOptions({}), expected);
  t.same(resolveAdapterOptions({ heartbeatInterval: undefined, requestsTimeout: undefined }), expected);
});

t.test("the resolved options are a complete, frozen object", async (t) => {
  const resolved = resolveAdapterOptions({ requestsTimeout: 250 });
  t.ok(Object.isFrozen(resolved));
  t.same(resolved, {
    heartbeatInterval: 5_000,
    heartbeatTimeout: 10_000,
    requestsTimeout: 250,
    maxMessageSize: 67_108_864,
    pm2: null,
    group: null,
  });
  t.notOk(Reflect.set(resolved, "requestsTimeout", 1), "a write is refused");
  t.equal(resolved.requestsTimeout, 250);
  t.ok(Object.isFrozen(resolveAdapterOptions()), "the defaults are frozen too");
});

t.test("the user's values are spread over the defaults, and the user's object is left alone", async (t) => {
  const given = {
    heartbeatInterval: 100,
    heartbeatTimeout: 300,
    requestsTimeout: 0.5,
    maxMessageSize: 1,
    pm2: false,
    group: "g",
  };
  const resolved = resolveAdapterOptions(given);
  t.same(resolved, given);
  t.not(resolved, given);
  t.notOk(Object.isFrozen(given));
  t.same(resolveAdapterOptions({ heartbeatTimeout: 5_001 }), {
    heartbeatInterval: 5_000,
    heartbeatTimeout: 5_001,
    requestsTimeout: 5_000,
    maxMessageSize: 67_108_864,
    pm2: null,
    group: null,
  });
});

t.test("options that are not ours are left out of the result", async (t) => {
  const resolved = resolveAdapterOptions({ requestsTimeout: 1_000, other: true } as AdapterOptions);
  t.same(Object.keys(resolved).sort(), [...FIELDS, "maxMessageSize", "pm2", "group"].sort());
});

t.test("the largest timer delay Node accepts is a valid value", async (t) => {
  for (const field of FIELDS) {
    const opts = field === "heartbeatInterval" ? { heartbeatInterval: 2_147_483_646 } : {};
    const value = field === "heartbeatInterval" ? 2_147_483_646 : 2_147_483_647;
    t.equal(resolveAdapterOptions({ ...opts, heartbeatTimeout: 2_147_483_647, [field]: value })[field], value);
  }
});

for (const field of FIELDS) {
  t.test(`${field} of a wrong type throws a TypeError that names it`, async (t) => {
    const cases: [unknown, string][] = [
      ["100", '"100" (string)'],
      [null, "null"],
      [true, "true (boolean)"],
      [{}, "[object Object] (object)"],
      [[5], "5 (object)"],
      [10n, "10 (bigint)"],
      [Number.NaN, "NaN (number)"],
    ];
    for (const [value, shown] of cases) {
      expectOptionError(
        t,
        () => resolveAdapterOptions({ [field]: value } as AdapterOptions),
        "type",
        `${field} must be a positive number of milliseconds, got ${shown}`,
      );
    }
  });

  t.test(`${field} out of range throws a RangeError that names it`, async (t) => {
    const cases: [number, string][] = [
      [0, "0 (number)"],
      [-1, "-1 (number)"],
      [-0.5, "-0.5 (number)"],
      [Number.POSITIVE_INFINITY, "Infinity (number)"],
      [Number.NEGATIVE_INFINITY, "-Infinity (number)"],
      [2_147_483_648, "2147483648 (number)"],
    ];
    for (const [value, shown] of cases) {
      expectOptionError(
        t,
        () => resolveAdapterOptions({ [field]: value }),
        "range",
        `${field} must be a positive number of milliseconds up to 2147483647, got ${shown}`,
      );
    }
  });
}

t.test("each field is checked alone before the combination", async (t) => {
  expectOptionError(
    t,
    () => resolveAdapterOptions({ heartbeatInterval: 10_000, heartbeatTimeout: "x" } as unknown as AdapterOptions),
    "type",
    'heartbeatTimeout must be a positive number of milliseconds, got "x" (string)',
  );
});

t.test("heartbeatTimeout not greater than heartbeatInterval throws a RangeError naming both", async (t) => {
  const cases: [AdapterOptions, number, number][] = [
    [{ heartbeatInterval: 1_000, heartbeatTimeout: 1_000 }, 1_000, 1_000],
    [{ heartbeatInterval: 2_000, heartbeatTimeout: 1_000 }, 1_000, 2_000],
    [{ heartbeatInterval: 20_000 }, 10_000, 20_000],
    [{ heartbeatTimeout: 5_000 }, 5_000, 5_000],
    [{ heartbeatTimeout: 10 }, 10, 5_000],
  ];
  for (const [opts, timeout, interval] of cases) {
    expectOptionError(
      t,
      () => resolveAdapterOptions(opts),
      "range",
      `heartbeatTimeout (${timeout} ms) must be greater than heartbeatInterval (${interval} ms)`,
    );
  }
});

t.test("options that are not an object throw a TypeError", async (t) => {
  const cases: [unknown, string][] = [
    [null, "null"],
    [5, "5 (number)"],
    ["fast", '"fast" (string)'],
    [[], " (object)"],
    [[1, 2], "1,2 (object)"],
    [true, "true (boolean)"],
    [Symbol.for("x"), "Symbol(x) (symbol)"],
  ];
  for (const [value, shown] of cases) {
    expectOptionError(
      t,
      () => resolveAdapterOptions(value as AdapterOptions),
      "type",
      `createAdapter() options must be an object, got ${shown}`,
    );
  }
  t.throws(() => resolveAdapterOptions((() => 1) as AdapterOptions), {
    name: "InvalidOptionTypeError",
    code: ErrorCode.INVALID_OPTION,
    message: /^createAdapter\(\) options must be an object, got .+ \(function\)$/,
  });
});

t.test("checkOptionsObject names the API it checks for and returns a record", async (t) => {
  t.same(checkOptionsObject(undefined, "setupPrimary()"), {});
  const given = { a: 1 };
  t.equal(checkOptionsObject(given, "setupPrimary()"), given);
  expectOptionError(
    t,
    () => checkOptionsObject(7, "new Emitter()"),
    "type",
    "new Emitter() options must be an object, got 7 (number)",
  );
});

t.test("checkMilliseconds returns a valid value as is", async (t) => {
  t.equal(checkMilliseconds("x", 1), 1);
  t.equal(checkMilliseconds("x", 0.25), 0.25);
  expectOptionError(
    t,
    () => checkMilliseconds("someTimeout", undefined),
    "type",
    "someTimeout must be a positive number of milliseconds, got undefined (undefined)",
  );
});

t.test("createAdapter() throws option errors synchronously, before any namespace exists", async (t) => {
  expectOptionError(
    t,
    () => createAdapter({ requestsTimeout: -1 }),
    "range",
    "requestsTimeout must be a positive number of milliseconds up to 2147483647, got -1 (number)",
  );
  expectOptionError(
    t,
    () => createAdapter("x" as AdapterOptions),
    "type",
    'createAdapter() options must be an object, got "x" (string)',
  );
  t.type(createAdapter({ requestsTimeout: 1 }), "function");
});

t.test("setupPrimary() rejects options that are not an object", async (t) => {
  expectOptionError(
    t,
    () => setupPrimary(3 as unknown as object),
    "type",
    "setupPrimary() options must be an object, got 3 (number)",
  );
});
