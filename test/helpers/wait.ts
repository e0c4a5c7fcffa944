/** Waiting for events with a deadline: a hang becomes a failure, never a sleep-and-hope. */
import type { EventEmitter } from "node:events";

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Listenable {
  once(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/** Resolves with the arguments of the next `event`. */
export function once(emitter: Listenable | EventEmitter, event: string, ms = 5_000): Promise<any[]> {
  let listener: (...args: any[]) => void = () => {};
  const promise = new Promise<any[]>((resolve) => {
    listener = (...args) => resolve(args);
    (emitter as Listenable).once(event, listener);
  });
  return withTimeout(promise, ms, `"${event}"`).finally(() => (emitter as Listenable).off(event, listener));
}

/** Resolves with the first argument of the next `count` `event`s. */
export function collect(emitter: Listenable, event: string, count: number, ms = 5_000): Promise<any[]> {
  const received: any[] = [];
  let listener: (...args: any[]) => void = () => {};
  const promise = new Promise<any[]>((resolve) => {
    listener = (...args) => {
      received.push(args.length > 1 ? args : args[0]);
      if (received.length === count) resolve(received);
    };
    (emitter as unknown as EventEmitter).on(event, listener);
  });
  return withTimeout(promise, ms, `${count} "${event}" (got ${received.length})`).finally(() =>
    (emitter as unknown as EventEmitter).off(event, listener),
  );
}

/** Polls `check` until it returns true: for state with no event of its own (e.g. a counter). */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface EvalTarget {
  on(event: "message", listener: (message: any) => void): unknown;
  off(event: "message", listener: (message: any) => void): unknown;
  send(message: unknown): unknown;
}

let evalId = 0;

/**
 * Runs `code` in a fixture process (a worker, a helper) that answers `{ test: "eval" }` messages
 * with `{ test: "result" }`: resolves with its value, rejects with its error.
 */
export function evalIn<T = any>(target: EvalTarget, code: string, ms: number, where: string): Promise<T> {
  const id = ++evalId;
  return withTimeout(
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: any) => {
        if (message?.test !== "result" || message.id !== id) return;
        target.off("message", onMessage);
        if (message.error) reject(Object.assign(new Error(message.error.message), message.error));
        else resolve(message.value);
      };
      target.on("message", onMessage);
      target.send({ test: "eval", id, code });
    }),
    ms,
    `eval in ${where}: ${code.slice(0, 80)}`,
  );
}
