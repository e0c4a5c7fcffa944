/**
 * Processes for the Redis bridge tests, each stopped in t.teardown: another "machine" (a cluster
 * primary with the bridge and its own workers: test/fixtures/redis-machine.js) and a plain server
 * on the official @socket.io/redis-streams-adapter (test/fixtures/streams-server.js).
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { io as connectClient, type Socket } from "socket.io-client";
import type { Serialization } from "./cluster";
import { once, withTimeout } from "./wait";

interface Tap {
  teardown(fn: () => unknown): void;
}

let evalId = 0;

export class ForkedProcess {
  readonly child: ChildProcess;
  readonly ports: number[];
  readonly exited: Promise<void>;
  readonly clients: Socket[] = [];

  constructor(child: ChildProcess, ports: number[], exited: Promise<void>) {
    this.child = child;
    this.ports = ports;
    this.exited = exited;
  }

  /** Runs `code` (an async function body) in the primary ("primary") or in a worker (its index). */
  eval<T = any>(code: string, target: "primary" | number = 0, ms = 10_000): Promise<T> {
    const id = ++evalId;
    return withTimeout(
      new Promise<T>((resolve, reject) => {
        const onMessage = (message: any) => {
          if (message?.test !== "result" || message.id !== id) return;
          this.child.off("message", onMessage);
          if (message.error) reject(Object.assign(new Error(message.error.message), message.error));
          else resolve(message.value);
        };
        this.child.on("message", onMessage);
        this.child.send({ test: "eval", id, target, code });
      }),
      ms,
      `eval in ${target}: ${code.slice(0, 80)}`,
    );
  }

  /** Connects a websocket client to the server of worker `index` and waits for `connect`. */
  async connect(index = 0, nsp = "/", options: object = {}): Promise<Socket> {
    return connectTo(this.ports[index], nsp, options, this.clients);
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await withTimeout(this.exited, 10_000, "a forked process to exit");
  }

  async stop(): Promise<void> {
    for (const socket of this.clients) socket.disconnect();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function connectTo(port: number, nsp = "/", options: object = {}, track?: Socket[]): Promise<Socket> {
  const socket = connectClient(`http://127.0.0.1:${port}${nsp}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    ...options,
  });
  track?.push(socket);
  await once(socket, "connect", 10_000);
  return socket;
}

async function start(t: Tap, file: string, env: Record<string, string>): Promise<ForkedProcess> {
  const child = fork(join(__dirname, "..", "fixtures", file), [], {
    env: { ...process.env, ...env },
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let handle: ForkedProcess | null = null;
  t.teardown(() => (handle ? handle.stop() : child.kill("SIGKILL")));
  const ready = await withTimeout(
    new Promise<{ ports: number[] }>((resolve, reject) => {
      child.on("message", function onReady(message: any) {
        if (message?.test !== "ready") return;
        child.off("message", onReady);
        resolve(message);
      });
      child.once("exit", (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
    }),
    30_000,
    `${file} to be ready`,
  );
  handle = new ForkedProcess(child, ready.ports, exited);
  return handle;
}

export interface MachineOptions {
  name: string;
  redisUrl: string;
  /** The Redis library of the machine's primary. @default "redis" */
  client?: "redis" | "ioredis";
  workers?: number;
  serialization?: Serialization;
  bridge?: object;
  fixture?: { adapter?: object; server?: object; namespaces?: string[] };
}

/** Forks another machine: a cluster primary with the bridge, and its workers. */
export function forkMachine(t: Tap, options: MachineOptions): Promise<ForkedProcess> {
  return start(t, "redis-machine.js", { MACHINE_OPTIONS: JSON.stringify(options) });
}

/** Forks a plain server on @socket.io/redis-streams-adapter. */
export function forkStreamsServer(
  t: Tap,
  options: { redisUrl: string; name?: string; namespaces?: string[] },
): Promise<ForkedProcess> {
  return start(t, "streams-server.js", {
    REDIS_URL: options.redisUrl,
    WORKER_INDEX: options.name ?? "s",
    FIXTURE_OPTIONS: JSON.stringify({ namespaces: options.namespaces ?? [] }),
  });
}
