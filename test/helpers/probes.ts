/**
 * Tools for the fault tests: a worker whose event loop is blocked on command, a probe that records
 * what reaches a worker's IPC channel, and a watch on the primary's unhandled errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestWorker } from "./cluster";

interface Tap {
  teardown(fn: () => unknown): void;
}

/** A temporary directory, removed in t.teardown. */
export function tempDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), "sio-ipc-fault-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What a blocked worker does once released. */
export type AfterBlock = "resume" | "disconnect" | "exit";

let blockId = 0;

/**
 * Blocks a worker's event loop: from the next turn on it reads no IPC message and answers nothing,
 * while its process stays alive (a hung worker). Resolves once the block is in place: the eval's
 * reply is sent before the setImmediate that blocks, and every message sent after that reply is
 * read only after the block ends. `release()` lets it go on (`then`), and returns Date.now() at the
 * moment of release.
 */
export async function blockWorker(
  w: TestWorker,
  dir: string,
  then: AfterBlock = "resume",
): Promise<{ release(): number }> {
  const file = join(dir, `release-${process.pid}-${++blockId}`);
  const after = { resume: "", disconnect: "process.disconnect();", exit: "process.exit(0);" }[then];
  // Atomics.wait keeps the loop blocked without burning a core of a small, shared machine.
  await w.eval(`
    const fs = require("node:fs");
    const cell = new Int32Array(new SharedArrayBuffer(4));
    setImmediate(() => {
      while (!fs.existsSync(${JSON.stringify(file)})) Atomics.wait(cell, 0, 0, 2);
      ${after}
    });
    return true;
  `);
  return {
    release() {
      const at = Date.now();
      writeFileSync(file, "");
      return at;
    },
  };
}

/**
 * Installs in a worker a probe on its link to the hub (the IPC channel, and the data socket once
 * upgraded): `ctx.probe.kinds[k]` counts our envelopes by kind, `ctx.probe.foreign` keeps every
 * other message except the test harness's own.
 */
export async function installProbe(w: TestWorker): Promise<void> {
  await w.eval(`
    ctx.probe = { kinds: {}, foreign: [], envelopes: [] };
    const link = require("../../dist/worker").workerLink();
    if (!link) throw new Error("this worker has no link to the hub");
    link.onMessage((m) => {
      if (m !== null && typeof m === "object" && !Array.isArray(m) && Object.hasOwn(m, "sio-ipc")) {
        ctx.probe.kinds[m.k] = (ctx.probe.kinds[m.k] || 0) + 1;
        ctx.probe.envelopes.push(m);
      } else if (!(m && m.test === "eval")) {
        ctx.probe.foreign.push(m);
      }
    });
    return true;
  `);
}

/** Collects the primary's uncaught exceptions and unhandled rejections until t.teardown. */
export function watchProcessErrors(t: Tap): { errors: string[] } {
  const errors: string[] = [];
  const onUncaught = (error: Error) => errors.push(`uncaughtException: ${error?.stack ?? error}`);
  const onUnhandled = (reason: unknown) => errors.push(`unhandledRejection: ${(reason as Error)?.stack ?? reason}`);
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUnhandled);
  t.teardown(() => {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUnhandled);
  });
  return { errors };
}

/** Records the primary's process warnings of one code until t.teardown. */
export function watchWarnings(t: Tap, code: string): { name: string; message: string }[] {
  const warnings: { name: string; message: string }[] = [];
  const onWarning = (warning: Error & { code?: string }) => {
    if (warning.code === code) warnings.push({ name: warning.name, message: warning.message });
  };
  process.on("warning", onWarning);
  t.teardown(() => process.off("warning", onWarning));
  return warnings;
}
