/**
 * Where an Emitter runs in a test: in the test process itself (the primary), or in a helper forked
 * from it (test/fixtures/emitter-helper.js). Both run the same code, given as the body of an async
 * function of (Emitter, ctx, require), so that every operation is tested the same way in both.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { Emitter } from "../../src/index";
import type { Serialization, TestCluster } from "./cluster";
import { forkFixture } from "./helper-process";
import { evalIn, withTimeout } from "./wait";
import type { Owner } from "./watch";

export const HELPER_FIXTURE = join(__dirname, "..", "fixtures", "emitter-helper.js");

export interface EmitterHost {
  /** "primary" or "helper". */
  readonly kind: string;
  /** Runs `code` as the body of an async function (Emitter, ctx, require) where the emitter lives. */
  run<T = any>(code: string, ms?: number): Promise<T>;
}

interface Tap extends Owner {
  teardown(fn: () => unknown): void;
}

const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => (...args: unknown[]) => Promise<any>;

/** The test process itself, after setupPrimary(). Errors keep only what crosses IPC, as in a helper. */
export function primaryHost(): EmitterHost {
  const ctx: Record<string, unknown> = {};
  return {
    kind: "primary",
    async run(code, ms = 15_000) {
      const body = new AsyncFunction("Emitter", "ctx", "require", code);
      try {
        return await withTimeout(body(Emitter, ctx, require), ms, `primary: ${code.slice(0, 80)}`);
      } catch (error) {
        const { message, code: errorCode, name } = error as Error & { code?: string };
        throw Object.assign(new Error(message), { code: errorCode, name });
      }
    },
  };
}

export interface HelperHost extends EmitterHost {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) once the helper has exited. */
  readonly exited: Promise<number | string | null>;
}

/**
 * Forks the helper fixture and waits for it to start; `attach` (default true) passes it to the
 * cluster's hub right after fork(), as users do. The helper is killed in t.teardown.
 */
export async function forkHelper(
  t: Tap,
  c: TestCluster | null,
  options: { serialization?: Serialization; attach?: boolean } = {},
): Promise<HelperHost> {
  const { child, exited } = await forkFixture(t, HELPER_FIXTURE, options.serialization ?? "json", (forked) => {
    if (options.attach !== false) c?.hub?.attach(forked);
  });
  return {
    kind: "helper",
    child,
    exited,
    run: (code, ms = 15_000) => evalIn(child, code, ms, "helper"),
  };
}
