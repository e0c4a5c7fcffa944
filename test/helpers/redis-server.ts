/**
 * A real redis-server for a test: on a free loopback port, persistence off, stopped in t.teardown.
 * It can be killed and started again on the same port, as a Redis restart in production would be.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createServer, Socket } from "node:net";
import { withTimeout } from "./wait";

interface Tap {
  teardown(fn: () => unknown): void;
}

function findRedisServer(): string {
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      "redis-server is not installed; the Redis bridge tests need it: apt-get update && apt-get install -y redis-server (.ci/run installs it)",
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
  });
}

export class RedisServer {
  readonly port: number;
  #binary: string;
  #process: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();

  constructor(binary: string, port: number) {
    this.#binary = binary;
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits until it answers. */
  async start(): Promise<void> {
    const child = spawn(
      this.#binary,
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
      ],
      { stdio: "ignore" },
    );
    this.#process = child;
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    let exited = false;
    child.once("exit", () => (exited = true));
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (exited) throw new Error(`redis-server exited at start on port ${this.port}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${this.port} in 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the server (SIGKILL: no goodbye to the clients, as a crash) and waits for its exit. */
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await withTimeout(this.#exited, 10_000, "redis-server to exit");
    this.#process = null;
  }
}

/** Starts a redis-server on a free loopback port; it is stopped in t.teardown. */
export async function startRedisServer(t: Tap): Promise<RedisServer> {
  const binary = findRedisServer();
  for (let attempt = 1; ; attempt++) {
    const server = new RedisServer(binary, await freePort());
    t.teardown(() => server.stop());
    try {
      await server.start();
      return server;
    } catch (error) {
      // Another process may have taken the port between freePort() and the server's bind.
      await server.stop();
      if (attempt === 3) throw error;
    }
  }
}
