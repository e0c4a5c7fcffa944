/**
 * A real node:cluster for a test: the test file is the primary (tap runs each file in its own
 * process), workers run test/fixtures/worker.js, clients are real socket.io-client sockets.
 * Everything started is stopped in t.teardown, on success and on failure.
 */
import cluster, { type Worker } from "node:cluster";
import { join } from "node:path";
import { io as connectClient, type Socket } from "socket.io-client";
import { type PrimaryHub, setupPrimary } from "../../src/index";
import { evalIn, once, withTimeout } from "./wait";
import { type Owner, watchProcess } from "./watch";

export const FIXTURE = join(__dirname, "..", "fixtures", "worker.js");

export type Serialization = "json" | "advanced";
export const SERIALIZATIONS: Serialization[] = ["json", "advanced"];

export interface ClusterOptions {
  workers?: number;
  serialization?: Serialization;
  /** Passed to the fixture: `adapter` (createAdapter options), `server` (Server options), `namespaces`. */
  fixture?: { adapter?: object; server?: object; namespaces?: string[] };
  /** Start the hub (default true). */
  hub?: boolean;
  /**
   * The hub's `dataSocket` option. By default on with json and off with advanced serialization,
   * so that the suite runs every cluster test on both transports without running it twice more:
   * the serialization only matters on IPC.
   */
  dataSocket?: boolean;
  /** Other options of the hub's setupPrimary() (e.g. maxMessageSize). */
  primary?: { maxMessageSize?: number };
  exec?: string;
}

interface Tap extends Owner {
  teardown(fn: () => unknown): void;
}

export interface TestWorker {
  index: number;
  worker: Worker;
  port: number;
  /** Runs `code` as the body of an async function (io, ctx, require) in the worker. */
  eval<T = any>(code: string, ms?: number): Promise<T>;
  /** Resolves when the worker process has exited. */
  exited: Promise<void>;
  /** Set when the test means the worker to exit (kill(), stop(), expectExit()): its exit does not fail the test. */
  exitExpected: boolean;
}

export class TestCluster {
  readonly workers: TestWorker[] = [];
  readonly clients: Socket[] = [];
  hub: PrimaryHub | null = null;
  #options: ClusterOptions;
  #owner: Owner | null;
  #nextIndex = 0;

  /** @param owner the test to fail when a worker reports an unhandled error or exits unexpectedly */
  constructor(options: ClusterOptions, owner: Owner | null = null) {
    this.#options = options;
    this.#owner = owner;
  }

  /** Forks one more worker and waits until its server listens. */
  async fork(extraEnv: Record<string, string> = {}): Promise<TestWorker> {
    const index = this.#nextIndex++;
    cluster.setupPrimary({
      exec: this.#options.exec ?? FIXTURE,
      serialization: this.#options.serialization ?? "json",
      execArgv: [],
      silent: false,
    });
    const worker = cluster.fork({
      WORKER_INDEX: String(index),
      FIXTURE_OPTIONS: JSON.stringify(this.#options.fixture ?? {}),
      ...extraEnv,
    });
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    const testWorker: TestWorker = {
      index,
      worker,
      port: 0,
      exited,
      exitExpected: false,
      eval: (code, ms = 10_000) => evalIn(worker, code, ms, `worker ${index}`),
    };
    this.workers.push(testWorker);
    if (this.#owner) {
      // worker.kill()/disconnect() set exitedAfterDisconnect; worker.process.kill() sets killed.
      const expected = () => testWorker.exitExpected || worker.exitedAfterDisconnect || worker.process.killed;
      watchProcess(this.#owner, worker, `worker ${index} (pid ${worker.process.pid})`, expected);
    }
    const ready = await withTimeout(
      new Promise<{ port: number }>((resolve, reject) => {
        const onMessage = (message: any) => {
          if (message?.test === "ready") {
            worker.off("message", onMessage);
            resolve(message);
          }
        };
        worker.on("message", onMessage);
        worker.once("exit", (code) => reject(new Error(`worker ${index} exited with ${code} before it was ready`)));
      }),
      15_000,
      `worker ${index} to listen`,
    );
    testWorker.port = ready.port;
    return testWorker;
  }

  /** Connects a websocket client to a worker and waits for `connect`. */
  async connect(workerIndex: number, nsp = "/", options: object = {}): Promise<Socket> {
    const { port } = this.workers[workerIndex];
    const socket = connectClient(`http://127.0.0.1:${port}${nsp}`, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      ...options,
    });
    this.clients.push(socket);
    await once(socket, "connect", 10_000);
    return socket;
  }

  /** The test is about to make this worker exit (e.g. by an eval): its exit does not fail the test. */
  expectExit(workerIndex: number): void {
    this.workers[workerIndex].exitExpected = true;
  }

  /** Kills a worker with `signal` and waits for its exit. */
  async kill(workerIndex: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const { worker, exited } = this.workers[workerIndex];
    this.expectExit(workerIndex);
    worker.process.kill(signal);
    await withTimeout(exited, 10_000, `worker ${workerIndex} to exit`);
  }

  /** Waits until every worker counts `expected` servers in namespace `nsp`. */
  async serverCounts(nsp = "/"): Promise<number[]> {
    const live = this.workers.filter((w) => w.worker.isConnected());
    return Promise.all(live.map((w) => w.eval(`return io.of(${JSON.stringify(nsp)}).adapter.serverCount()`)));
  }

  async stop(): Promise<void> {
    for (const socket of this.clients) socket.disconnect();
    for (const testWorker of this.workers) testWorker.exitExpected = true;
    await Promise.all(
      this.workers.map(async ({ worker, exited }) => {
        if (worker.isDead()) return;
        worker.process.kill("SIGTERM");
        const timer = setTimeout(() => worker.process.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    // Each cluster of a test file gets a hub of its own, with its own options (dataSocket).
    this.hub?.close();
  }
}

/** Whether a cluster started with these options moves the workers' traffic to the data socket. */
export function usesDataSocket(options: ClusterOptions): boolean {
  return options.dataSocket ?? (options.serialization ?? "json") === "json";
}

/**
 * Starts a cluster of `workers` workers (and the hub), stopped in t.teardown. A worker that reports
 * an uncaught exception or an unhandled rejection, or exits unexpectedly, fails `t`.
 */
export async function startCluster(t: Tap, options: ClusterOptions = {}): Promise<TestCluster> {
  const testCluster = new TestCluster(options, t);
  t.teardown(() => testCluster.stop());
  if (options.hub !== false) {
    testCluster.hub = setupPrimary({ ...options.primary, dataSocket: usesDataSocket(options) });
  }
  const count = options.workers ?? 2;
  // One at a time: a 2-core machine starts them no faster in parallel, and ports stay in order.
  for (let i = 0; i < count; i++) await testCluster.fork();
  // Each server knows the others once their heartbeats crossed.
  await waitForServerCount(testCluster, count);
  return testCluster;
}

export async function waitForServerCount(testCluster: TestCluster, expected: number, nsp = "/"): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const counts = await testCluster.serverCounts(nsp);
    if (counts.every((count) => count === expected)) return;
    if (Date.now() > deadline) throw new Error(`server counts ${counts} never all became ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
