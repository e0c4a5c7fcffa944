// The PM2 options of createAdapter(): `pm2` and `group`, each checked alone with a message that names it.
import t from "tap";
import { createAdapter, ErrorCode, InvalidOptionRangeError, InvalidOptionTypeError } from "../../src/index";
import { MAX_GROUP_LENGTH, resolveAdapterOptions } from "../../src/options";

t.test("pm2 and group default to null: detected in the worker", async (t) => {
  t.match(resolveAdapterOptions(), { pm2: null, group: null });
  t.match(resolveAdapterOptions({ pm2: false, group: "chat" }), { pm2: false, group: "chat" });
  t.match(resolveAdapterOptions({ pm2: true }), { pm2: true, group: null });
  t.ok(Object.isFrozen(resolveAdapterOptions({ pm2: true })));
});

t.test("pm2 must be a boolean", async (t) => {
  for (const value of ["yes", 1, null]) {
    t.throws(() => resolveAdapterOptions({ pm2: value as never }), {
      name: "InvalidOptionTypeError",
      code: ErrorCode.INVALID_OPTION,
      message: /^pm2 must be a boolean \(or left out to detect PM2\), got /,
    });
  }
  t.throws(() => createAdapter({ pm2: "auto" as never }), InvalidOptionTypeError, "thrown by createAdapter()");
});

t.test("group must be a non-empty string of bounded length", async (t) => {
  t.throws(() => resolveAdapterOptions({ group: 42 as never }), {
    name: "InvalidOptionTypeError",
    message: "group must be a string, got 42 (number)",
  });
  for (const value of ["", "x".repeat(MAX_GROUP_LENGTH + 1), "a\0b"]) {
    t.throws(() => resolveAdapterOptions({ group: value }), InvalidOptionRangeError);
  }
  t.throws(() => resolveAdapterOptions({ group: "" }), {
    message: `group must be 1 to ${MAX_GROUP_LENGTH} characters long, without NUL, got "" (string)`,
  });
  t.equal(resolveAdapterOptions({ group: "x".repeat(MAX_GROUP_LENGTH) }).group?.length, MAX_GROUP_LENGTH);
});
