/**
 * Issue 6, point 5: an unhandled error in a worker or a helper fails the test that owns it, and so
 * does an exit the test did not ask for. Each case runs against a recorder standing in for the
 * owning test, so that this file itself passes.
 */
import t, { type Test } from "tap";
import { setupPrimary } from "../../src/index";
import { TestCluster } from "../helpers/cluster";
import { forkAttachedHelper } from "../helpers/helper-process";
import { withTimeout } from "../helpers/wait";
import type { Owner } from "../helpers/watch";

/** Records what would have failed the owning test. */
function recorder(t: Test): Owner & { failures: string[]; teardown: Test["teardown"] } {
  const failures: string[] = [];
  return { failures, fail: (message: string) => failures.push(message), teardown: (fn) => t.teardown(fn) };
}

async function oneWorker(t: Test, owner: Owner): Promise<TestCluster> {
  const c = new TestCluster({ fixture: {} }, owner);
  t.teardown(() => c.stop());
  c.hub = setupPrimary();
  await c.fork();
  return c;
}

const cases: [string, string, RegExp][] = [
  [
    "an uncaught exception",
    `setTimeout(() => { throw new Error("boom in a worker") }); return true`,
    /^worker \d+ \(pid \d+\): uncaughtException: boom in a worker$/,
  ],
  [
    "an unhandled rejection",
    `Promise.reject(new Error("rejected in a worker")); return true`,
    /^worker \d+ \(pid \d+\): unhandledRejection: rejected in a worker$/,
  ],
  [
    "an exit the test did not ask for",
    `setTimeout(() => process.exit(3)); return true`,
    /^worker \d+ \(pid \d+\) exited unexpectedly \(code 3, signal null\)$/,
  ],
];

for (const [what, code, expected] of cases) {
  t.test(`${what} in a worker fails the test that owns the worker`, { timeout: 30_000 }, async (t) => {
    const owner = recorder(t);
    const c = await oneWorker(t, owner);
    await c.workers[0].eval(code);
    await withTimeout(c.workers[0].exited, 10_000, "the worker to exit");
    t.equal(owner.failures.length, 1, "one failure");
    t.match(owner.failures[0], expected);
    if (what !== "an exit the test did not ask for") {
      t.equal(c.workers[0].worker.process.exitCode, 70, "the worker exits with the fixture's code");
    }
  });
}

t.test("exits the test asks for do not fail it", { timeout: 30_000 }, async (t) => {
  const owner = recorder(t);
  const c = await oneWorker(t, owner);
  await c.fork();
  await c.fork();
  await c.kill(0);
  c.workers[1].worker.process.kill("SIGKILL");
  c.expectExit(2);
  await c.workers[2].eval(`setTimeout(() => process.exit(5)); return true`);
  await Promise.all(c.workers.map((w) => withTimeout(w.exited, 10_000, `worker ${w.index} to exit`)));
  t.same(owner.failures, []);
});

t.test("an unhandled error in an attached helper fails the test that owns it", { timeout: 30_000 }, async (t) => {
  const owner = recorder(t);
  const hub = setupPrimary();
  const helper = await forkAttachedHelper(owner, hub);
  await helper.eval(`setTimeout(() => { throw new Error("boom in a helper") }); return true`);
  await withTimeout(helper.exited, 10_000, "the helper to exit");
  t.equal(owner.failures.length, 1);
  t.match(owner.failures[0], /^helper \(pid \d+\): uncaughtException: boom in a helper$/);
  t.equal(helper.child.exitCode, 70);

  const quiet = recorder(t);
  const killed = await forkAttachedHelper(quiet, hub);
  await killed.kill();
  const crashed = await forkAttachedHelper(quiet, hub);
  await crashed.eval(`setTimeout(() => process.exit(4)); return true`);
  await withTimeout(crashed.exited, 10_000, "the helper to exit");
  t.same(quiet.failures, [`helper (pid ${crashed.child.pid}) exited unexpectedly (code 4, signal null)`]);
});
