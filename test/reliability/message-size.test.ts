/**
 * Issue 6, point 4: the maximum message size. A sender refuses a larger message with a synchronous
 * MessageTooLargeError that names the size and the limit, counts it and sends nothing; the hub drops
 * and counts what is larger than its own limit; the cluster keeps working.
 */
import t, { type Test } from "tap";
import { Hub } from "../../src/hub/hub";
import { createAdapter, Emitter, ErrorCode, MessageTooLargeError, setupPrimary } from "../../src/index";
import { DEFAULT_MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE_LIMIT, resolveAdapterOptions } from "../../src/options";
import { checkSize, sizeAbove } from "../../src/protocol/codec";
import { envelope, Kind } from "../../src/protocol/messages";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { MemoryLink } from "../helpers/memory-link";
import { collect, once, until } from "../helpers/wait";

function expectTooLarge(t: Test, fn: () => unknown, size: number, limit: number): void {
  try {
    fn();
    t.fail("should have thrown a MessageTooLargeError");
  } catch (error) {
    const e = error as MessageTooLargeError;
    t.type(e, MessageTooLargeError);
    t.equal(e.name, "MessageTooLargeError");
    t.equal(e.code, ErrorCode.MESSAGE_TOO_LARGE);
    t.equal(e.code, "SIO_IPC_ERR_MESSAGE_TOO_LARGE");
    t.equal(e.size, size);
    t.equal(e.limit, limit);
    t.match(e.message, `cannot send a message of ${size} bytes between processes: maxMessageSize is ${limit} bytes`);
  }
}

t.test("sizes are UTF-8 bytes of the encoded message, and the limit itself passes", async (t) => {
  t.equal(sizeAbove("abc", 3), -1);
  t.equal(sizeAbove("abcd", 3), 4);
  t.equal(sizeAbove("é".repeat(2), 3), 4, "2 bytes per é");
  t.equal(sizeAbove("€".repeat(3), 9), -1, "3 bytes per €, exactly the limit");
  t.equal(sizeAbove("😀", 3), 4, "a surrogate pair is 4 bytes");
  t.equal(checkSize("abc", 3), "abc");
  expectTooLarge(t, () => checkSize("€€", 5), 6, 5);
  t.equal(DEFAULT_MAX_MESSAGE_SIZE, 64 * 1024 * 1024, "64 MiB by default");
  t.equal(resolveAdapterOptions().maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
  const atLimit = "x".repeat(DEFAULT_MAX_MESSAGE_SIZE);
  t.equal(sizeAbove(atLimit, DEFAULT_MAX_MESSAGE_SIZE), -1);
  expectTooLarge(
    t,
    () => checkSize(`${atLimit}x`, DEFAULT_MAX_MESSAGE_SIZE),
    DEFAULT_MAX_MESSAGE_SIZE + 1,
    DEFAULT_MAX_MESSAGE_SIZE,
  );
});

t.test("maxMessageSize is checked in createAdapter(), new Emitter() and setupPrimary()", async (t) => {
  const type = (shown: string) => `maxMessageSize must be a positive whole number of bytes, got ${shown}`;
  const range = (shown: string) =>
    `maxMessageSize must be a positive whole number of bytes up to ${MAX_MESSAGE_SIZE_LIMIT} (256 MiB), got ${shown}`;
  const cases: [unknown, string, "type" | "range"][] = [
    ["1024", type('"1024" (string)'), "type"],
    [null, type("null"), "type"],
    [Number.NaN, type("NaN (number)"), "type"],
    [0, range("0 (number)"), "range"],
    [-1, range("-1 (number)"), "range"],
    [1.5, range("1.5 (number)"), "range"],
    [MAX_MESSAGE_SIZE_LIMIT + 1, range(`${MAX_MESSAGE_SIZE_LIMIT + 1} (number)`), "range"],
    [Number.POSITIVE_INFINITY, range("Infinity (number)"), "range"],
  ];
  for (const [value, message, kind] of cases) {
    const expected = {
      message,
      code: ErrorCode.INVALID_OPTION,
      name: kind === "type" ? "InvalidOptionTypeError" : "InvalidOptionRangeError",
    };
    t.throws(() => createAdapter({ maxMessageSize: value as number }), expected);
    t.throws(() => new Emitter({ maxMessageSize: value as number }), expected);
    t.throws(() => setupPrimary({ maxMessageSize: value as number }), expected);
  }
  t.equal(resolveAdapterOptions({ maxMessageSize: MAX_MESSAGE_SIZE_LIMIT }).maxMessageSize, MAX_MESSAGE_SIZE_LIMIT);
  t.equal(resolveAdapterOptions({ maxMessageSize: 1 }).maxMessageSize, 1);
});

t.test("the hub drops and counts payloads above its limit, and forwards the rest", async (t) => {
  const hub = new Hub({ maxMessageSize: 10 });
  t.teardown(() => hub.close());
  const links = ["s1", "s2"].map((uid) => {
    const link = new MemoryLink(uid);
    hub.addLink(link);
    link.inject(envelope({ k: Kind.HELLO, uid, role: "server" }));
    link.take();
    return link;
  });
  const [a, b] = links;
  a.inject(envelope({ k: Kind.PUBLISH, d: "x".repeat(11) }));
  a.inject(envelope({ k: Kind.PUBLISH, d: "é".repeat(6), o: "o1", n: "/" }));
  a.inject(envelope({ k: Kind.RESPONSE, to: "s2", d: "x".repeat(11) }));
  a.inject(envelope({ k: Kind.SESSION, n: "/", pid: "p", d: "x".repeat(11) }));
  t.same(b.take(), [], "nothing forwarded");
  t.equal(hub.stats().messagesTooLarge, 4);
  t.equal(hub.stats().recoveryLogEntries, 0, "a refused broadcast is not logged either");
  t.equal(hub.stats().recoverySessions, 0);
  const fits = envelope({ k: Kind.PUBLISH, d: "x".repeat(10) });
  a.inject(fits);
  t.same(b.take(), [fits], "a payload at the limit is forwarded");
  t.equal(new Hub().stats().messagesTooLarge, 0);
});

for (const serialization of SERIALIZATIONS) {
  t.test(
    `too large broadcasts are refused at the sender and dropped at the hub; the cluster keeps working (${serialization})`,
    async (t) => {
      // The hub's limit is above the workers' and below the primary emitter's, to reach each check.
      const hub = setupPrimary({ maxMessageSize: 8_192 });
      const droppedBefore = hub.stats().messagesTooLarge;
      const c = await startCluster(t, {
        workers: 2,
        hub: false,
        serialization,
        fixture: { adapter: { maxMessageSize: 4_096 } },
      });
      c.hub = hub;
      const clients = await Promise.all([c.connect(0), c.connect(1)]);
      const received = clients.map(() => [] as string[]);
      clients.forEach((socket, i) => {
        socket.onAny((event: string) => received[i].push(event));
      });

      const refused = await c.workers[0].eval(`
    const errors = [];
    const attempt = (fn) => { try { fn(); errors.push(null); } catch (e) { errors.push({ name: e.name, code: e.code, size: e.size, limit: e.limit, message: e.message }); } };
    const big = "x".repeat(5000);
    attempt(() => io.emit("big", big));
    attempt(() => io.to("room").emit("big", big));
    attempt(() => io.except("room").emit("big", Buffer.alloc(4000)));
    attempt(() => io.serverSideEmit("ping-servers", big));
    attempt(() => io.socketsJoin(big));
    attempt(() => io.timeout(1000).emit("big", big, () => {}));
    return { errors, count: io.of("/").adapter.messagesTooLarge, other: io.of("/other").adapter.messagesTooLarge };`);
      t.equal(refused.errors.length, 6);
      for (const error of refused.errors) {
        t.equal(error?.code, "SIO_IPC_ERR_MESSAGE_TOO_LARGE", "a synchronous error at the sender");
        t.equal(error?.name, "MessageTooLargeError");
        t.equal(error?.limit, 4_096);
        t.ok(error?.size > 4_096);
        t.match(
          error?.message,
          `cannot send a message of ${error?.size} bytes between processes: maxMessageSize is 4096 bytes`,
        );
      }
      t.equal(refused.count, 6, "counted in adapter.messagesTooLarge");
      t.equal(refused.other, 0, "per namespace");

      // The primary's emitter: its own limit refuses first; above the hub's, the hub drops.
      const strict = new Emitter({ maxMessageSize: 4_096 });
      t.throws(() => strict.emit("big", "x".repeat(5_000)), { code: "SIO_IPC_ERR_MESSAGE_TOO_LARGE", limit: 4_096 });
      t.throws(() => strict.of("/").to("r").emit("big", "x".repeat(5_000)), { code: "SIO_IPC_ERR_MESSAGE_TOO_LARGE" });
      t.equal(strict.messagesTooLarge, 2, "counted on the emitter, of() included");
      const lax = new Emitter({ maxMessageSize: 16_384 });
      lax.emit("big", "x".repeat(10_000));
      await until(() => hub.stats().messagesTooLarge === droppedBefore + 1, "the hub to drop the emitter's message");
      t.equal(lax.messagesTooLarge, 0);

      // An answer too large for its sender is dropped and counted there: the request times out.
      await c.workers[1].eval(`for (const s of await io.local.fetchSockets()) s.data = "y".repeat(5000); return true`);
      const answer = await c.workers[0].eval(
        `try { await io.timeout(500).fetchSockets(); return "resolved"; } catch (e) { return e.message; }`,
      );
      t.equal(answer, "timeout reached: missing 1 responses", "the requester misses the dropped answer");
      t.equal(await c.workers[1].eval(`return io.of("/").adapter.messagesTooLarge`), 1);

      // The cluster keeps working, and nothing too large reached a client.
      const after = Promise.all(clients.map((s) => collect(s, "after", 2)));
      await c.workers[0].eval(`io.emit("after"); return true`);
      lax.emit("after");
      await after;
      t.same(
        received,
        [
          ["after", "after"],
          ["after", "after"],
        ],
        "clients got only what fitted, everywhere",
      );
      t.same(await c.serverCounts(), [2, 2]);
      const ok = once(clients[1], "fits");
      await c.workers[0].eval(`io.emit("fits", "x".repeat(3900)); return true`);
      t.equal((await ok)[0].length, 3_900, "a message just under the limit arrives");
    },
  );
}
