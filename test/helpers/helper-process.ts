/**
 * A helper process with an Emitter (test/fixtures/fault-helper.js), forked and attached to the
 * hub as users do it. It is killed in t.teardown; an unhandled error in it, or an exit the test did
 * not ask for, fails the test.
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { PrimaryHub } from "../../src/index";
import type { Serialization } from "./cluster";
import { evalIn, withTimeout } from "./wait";
import { type Owner, watchProcess } from "./watch";

export const FAULT_HELPER = join(__dirname, "..", "fixtures", "fault-helper.js");

interface Tap extends Owner {
  teardown(fn: () => unknown): void;
}

export interface TestHelper {
  readonly child: ChildProcess;
  /** Resolves once the helper has exited. */
  readonly exited: Promise<void>;
  /** Runs `code` as the body of an async function (Emitter, ctx, require) in the helper. */
  eval<T = any>(code: string, ms?: number): Promise<T>;
  /** Kills the helper with `signal` and waits for its exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A forked fixture that said it is ready; it is killed in t.teardown. */
export interface ForkedFixture {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string | null>;
  /** The test is about to end the process itself: its exit is no failure. */
  expectExit(): void;
}

/**
 * Forks `fixture` and waits for its `{ test: "ready" }` message. `attach` runs right after fork(),
 * as users call hub.attach(child). An unhandled error in the child, or an exit the test did not
 * ask for, fails the test.
 */
export async function forkFixture(
  t: Tap,
  fixture: string,
  serialization: Serialization,
  attach?: (child: ChildProcess) => void,
): Promise<ForkedFixture> {
  const child = fork(fixture, [], { serialization, execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  attach?.(child);
  let exitExpected = false;
  watchProcess(t, child, `helper (pid ${child.pid})`, () => exitExpected || child.killed);
  const exited = new Promise<number | string | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal)),
  );
  t.teardown(async () => {
    exitExpected = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      const onMessage = (message: any) => {
        if (message?.test !== "ready") return;
        child.off("message", onMessage);
        resolve();
      };
      child.on("message", onMessage);
      exited.then((code) => reject(new Error(`the helper exited with ${code} before it was ready`)));
    }),
    15_000,
    "the helper to start",
  );
  return {
    child,
    exited,
    expectExit: () => {
      exitExpected = true;
    },
  };
}

export async function forkAttachedHelper(
  t: Tap,
  hub: PrimaryHub,
  serialization: Serialization = "json",
): Promise<TestHelper> {
  const forked = await forkFixture(t, FAULT_HELPER, serialization, (child) => hub.attach(child));
  const { child } = forked;
  const exited = forked.exited.then(() => {});
  return {
    child,
    exited,
    eval: (code, ms = 10_000) => evalIn(child, code, ms, "the helper"),
    async kill(signal = "SIGKILL") {
      forked.expectExit();
      child.kill(signal);
      await withTimeout(exited, 10_000, "the helper to exit");
    },
  };
}
