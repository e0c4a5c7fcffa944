import { execFile, fork } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { Emitter } from "../../src/index";
import { SERIALIZATIONS, startCluster } from "../helpers/cluster";
import { forkHelper } from "../helpers/emitter";
import { once, withTimeout } from "../helpers/wait";

const ROOT = join(__dirname, "..", "..");
const WHERE =
  "Emitter works only in the cluster primary after setupPrimary(), or in a child forked by the primary and passed to hub.attach(child)";
const WRONG_PROCESS = "SIO_IPC_ERR_WRONG_PROCESS";
const HUB_GONE = "SIO_IPC_ERR_HUB_GONE";

t.test("new Emitter() checks its options first, each with a message that names it", async (t) => {
  const invalid = "SIO_IPC_ERR_INVALID_OPTION";
  t.throws(() => new Emitter({ requestsTimeout: -1 }), {
    name: "InvalidOptionRangeError",
    code: invalid,
    message: "requestsTimeout must be a positive number of milliseconds up to 2147483647, got -1 (number)",
  });
  t.throws(() => new Emitter({ requestsTimeout: "5000" as never }), {
    name: "InvalidOptionTypeError",
    code: invalid,
    message: 'requestsTimeout must be a positive number of milliseconds, got "5000" (string)',
  });
  t.throws(() => new Emitter(42 as never), {
    code: invalid,
    message: "Emitter options must be an object, got 42 (number)",
  });
  t.throws(() => new Emitter({}, "admin"), {
    name: "InvalidOptionTypeError",
    code: invalid,
    message: 'the namespace must be a string starting with "/", got "admin"',
  });
});

t.test("new Emitter() throws in a plain process, saying where an emitter works", async (t) => {
  const script = `
    const { Emitter, IpcAdapterError } = require(".");
    try { new Emitter(); console.log("no error"); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, ours: e instanceof IpcAdapterError })); }`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", script], { cwd: ROOT, timeout: 20_000 });
  const error = JSON.parse(stdout);
  t.same(
    { name: error.name, code: error.code, ours: error.ours },
    { name: "IpcAdapterError", code: WRONG_PROCESS, ours: true },
  );
  t.ok(error.message.startsWith(WHERE), error.message);
  t.match(error.message, /call setupPrimary\(\) first/);
});

t.test("in a cluster primary: throws before setupPrimary(), and fails with HUB_GONE after hub.close()", async (t) => {
  const child = fork(join(ROOT, "test", "fixtures", "emitter-primary.js"), [], { execArgv: [], stdio: "inherit" });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  const [result] = await once(child, "message", 20_000);
  t.equal(result.beforeSetup.code, WRONG_PROCESS, "even with an IPC channel of its own, the primary is no helper");
  t.ok(result.beforeSetup.message.startsWith(WHERE), result.beforeSetup.message);
  t.match(result.beforeSetup.message, /setupPrimary\(\) has not been called: call it first/);
  t.same(result.fetched, [], "after setupPrimary() it works (the idle worker serves nothing)");
  for (const what of ["emit", "serverSideEmit", "fetchSockets"]) {
    t.equal(result.afterClose[what].code, HUB_GONE, `after hub.close(), ${what} fails with ${HUB_GONE}`);
    t.match(result.afterClose[what].message, /the Emitter lost its hub/);
  }
  t.equal(result.afterClose.newEmitter.code, WRONG_PROCESS, "a new Emitter needs a new setupPrimary()");
});

for (const serialization of SERIALIZATIONS) {
  t.test(`outside the primary and attached helpers (${serialization})`, async (t) => {
    const c = await startCluster(t, { workers: 1, serialization });

    t.test("new Emitter() throws in a cluster worker", async (t) => {
      const error = await c.workers[0].eval(`
        const { Emitter } = require("../..");
        try { new Emitter(); return "no error"; } catch (e) { return { name: e.name, code: e.code, message: e.message }; }`);
      t.equal(error.code, WRONG_PROCESS);
      t.ok(error.message.startsWith(WHERE), error.message);
      t.match(error.message, /this process is a cluster worker: use io\.emit\(\)/);
    });

    t.test("in a fork that was not attached, the first request fails within about 1 s", async (t) => {
      const helper = await forkHelper(t, c, { serialization, attach: false });
      const result = await helper.run(`
        const started = Date.now();
        ctx.emitter = new Emitter();
        return await ctx.emitter.fetchSockets().then(
          () => "resolved",
          (e) => ({ code: e.code, message: e.message, elapsed: Date.now() - started }));`);
      t.comment(`unattached fork (${serialization}): fetchSockets rejected ${result.elapsed} ms after new Emitter()`);
      t.equal(result.code, WRONG_PROCESS);
      t.ok(result.message.startsWith(WHERE), result.message);
      t.match(result.message, /did not answer in 1000 ms: call hub\.attach\(child\) in the primary/);
      t.ok(result.elapsed >= 950 && result.elapsed < 5_000, `rejected after ${result.elapsed} ms`);
      const later = await helper.run(`
        const codeOf = (fn) => { try { fn(); return "no error"; } catch (e) { return e.code; } };
        return {
          emit: codeOf(() => ctx.emitter.emit("hello")),
          fetchSockets: await ctx.emitter.fetchSockets().then(() => "resolved", (e) => e.code),
          sameEmitterAgain: codeOf(() => new Emitter().emit("hello")),
          warnings: ctx.warnings.map((w) => w.code),
        };`);
      t.same(later, {
        emit: WRONG_PROCESS,
        fetchSockets: WRONG_PROCESS,
        sameEmitterAgain: WRONG_PROCESS,
        warnings: [WRONG_PROCESS],
      });
      t.equal(c.hub?.stats().helpers, 0, "the hub knows nothing of it");
      // It holds nothing: once it stops listening for the test, it exits.
      await helper.run("ctx.idle(); return true");
      t.equal(await withTimeout(helper.exited, 10_000, "the helper to exit"), 0);
    });
  });
}
