/**
 * Runs an example as a user does (`node examples/<name>/<script>.js`), in a process group of its
 * own, so that teardown can kill the primary and every worker in one go, on success and failure.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { until, withTimeout } from "./wait";

export const ROOT = join(__dirname, "..", "..");

export interface RunningExample {
  process: ChildProcess;
  /** The URL the primary printed (it listens on PORT=0, a free port). */
  url: string;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** True while some process of the example's group (the primary or a worker) is alive. */
  alive(): boolean;
}

interface Tap {
  teardown(fn: () => unknown): void;
}

/** Starts `script` with PORT=0 and waits until its output matches `ready`. */
export async function startExample(
  t: Tap,
  script: string,
  env: Record<string, string>,
  ready: (output: string) => boolean,
): Promise<RunningExample> {
  const child = spawn(process.execPath, [join(ROOT, script)], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: "0", ...env },
  });
  const group = child.pid!;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const alive = () => {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  };
  // If this test process ends before teardown (a tap timeout kills it), take the example along.
  const killGroup = () => {
    try {
      process.kill(-group, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  process.once("exit", killGroup);
  t.teardown(async () => {
    if (alive()) {
      killGroup();
      await withTimeout(
        until(() => !alive(), `the processes of ${script} to die`, 10_000),
        11_000,
        `${script} to die`,
      );
    }
    process.off("exit", killGroup);
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const stopped = () => child.exitCode !== null || child.signalCode !== null;
  await until(() => ready(output) || stopped(), `${script} to start`, 30_000);
  const url = /(http:\/\/localhost:\d+)/.exec(output)?.[1];
  if (!url || stopped()) throw new Error(`${script} did not start:\n${output}`);
  return { process: child, url, output: () => output, exited, alive };
}

/** Sends SIGINT (Ctrl-C) to the primary alone and resolves with its exit code. */
export async function interrupt(example: RunningExample): Promise<number | null> {
  example.process.kill("SIGINT");
  return withTimeout(example.exited, 20_000, "the example to stop on SIGINT");
}
