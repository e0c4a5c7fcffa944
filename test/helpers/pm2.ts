/**
 * A real, stock PM2 (the `pm2` devDependency) for a test, as measured in research/PM2.md: its own
 * PM2_HOME in a temp dir, no version check, no interaction, always `node node_modules/pm2/bin/pm2`.
 * Apps run test/fixtures/pm2-app.js in cluster mode. Teardown always runs `pm2 kill`, waits for the
 * daemon to exit (SIGKILL if it lingers), kills any instance left and removes PM2_HOME.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io as connectClient, type Socket } from "socket.io-client";
import { isProcessAlive } from "../../src/pm2/lock";
import { once, until } from "./wait";

const ROOT = join(__dirname, "..", "..");
const PM2_BIN = join(ROOT, "node_modules", "pm2", "bin", "pm2");
export const APP = join(ROOT, "test", "fixtures", "pm2-app.js");

export interface AppSpec {
  name: string;
  instances: number;
  /** PM2 restarts a crashed instance (default false). */
  autorestart?: boolean;
  /** Passed to the fixture: `adapter` (createAdapter options), `server`, `namespaces`. */
  fixture?: { adapter?: object; server?: object; namespaces?: string[] };
  env?: Record<string, string>;
}

/** One running instance, as it announced itself in the ready directory. */
export interface Instance {
  pid: number;
  instance: number;
  port: number;
  /** Date.now() in the instance when it started listening. */
  readyAt: number;
}

interface Tap {
  teardown(fn: () => unknown): void;
}

export class Pm2Run {
  readonly home: string;
  readonly clients: Socket[] = [];
  #pids = new Set<number>();
  #env: NodeJS.ProcessEnv;

  /**
   * If tap's timeout ends this process before t.teardown runs, the daemon and its apps must not
   * outlive it: kill them all (synchronously: this may run on exit) and remove PM2_HOME.
   */
  #onExit = () => {
    try {
      const daemon = Number.parseInt(readFileSync(join(this.home, "pm2.pid"), "utf8"), 10);
      if (daemon > 0 && isProcessAlive(daemon)) process.kill(daemon, "SIGKILL");
    } catch {
      // No daemon.
    }
    try {
      for (const dir of readdirSync(this.home).filter((f) => f.startsWith("ready-"))) {
        for (const file of readdirSync(join(this.home, dir))) this.#pids.add(Number.parseInt(file, 10));
      }
    } catch {
      // Nothing started.
    }
    for (const pid of this.#pids) if (pid > 0 && isProcessAlive(pid)) process.kill(pid, "SIGKILL");
    rmSync(this.home, { recursive: true, force: true });
  };

  constructor() {
    // A short path: the socket directory lives under PM2_HOME and socket paths are limited to ~104 bytes.
    this.home = mkdtempSync(join(tmpdir(), "pm2-ci."));
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The daemon and the CLI are not ours to cover; the apps get NODE_V8_COVERAGE through their env.
    delete env.NODE_V8_COVERAGE;
    delete env.NODE_OPTIONS;
    for (const key of Object.keys(env)) if (key.startsWith("TAP")) delete env[key];
    this.#env = {
      ...env,
      PM2_HOME: this.home,
      PM2_DISCRETE_MODE: "true",
      PM2_DISABLE_VERSION_CHECK: "true",
      PM2_NO_INTERACTION: "true",
    };
    process.once("exit", this.#onExit);
    // tap's timeout ends the process with SIGALRM, with no exit event. Once: tap raises it again.
    process.once("SIGALRM", this.#onExit);
  }

  /** Runs the pm2 CLI and returns its stdout. */
  cli(args: string[], timeout = 30_000, env: Record<string, string> = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [PM2_BIN, ...args],
        { env: { ...this.#env, ...env }, cwd: this.home, timeout },
        (error, stdout, stderr) => {
          if (error) reject(Object.assign(error, { stdout, stderr }));
          else resolve(stdout);
        },
      );
    });
  }

  readyDir(app: string): string {
    return join(this.home, `ready-${app}`);
  }

  /** Starts the apps from an ecosystem file and waits until every instance listens. */
  async start(apps: AppSpec[]): Promise<void> {
    const ecosystem = {
      apps: apps.map((app) => {
        mkdirSync(this.readyDir(app.name), { recursive: true });
        return {
          name: app.name,
          script: APP,
          exec_mode: "cluster",
          instances: app.instances,
          autorestart: app.autorestart ?? false,
          kill_timeout: 1_000,
          env: {
            READY_DIR: this.readyDir(app.name),
            FIXTURE_OPTIONS: JSON.stringify(app.fixture ?? {}),
            ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
            ...app.env,
          },
        };
      }),
    };
    const file = join(this.home, "ecosystem.config.js");
    writeFileSync(file, `module.exports = ${JSON.stringify(ecosystem, null, 2)};\n`);
    await this.cli(["start", file]);
    for (const app of apps) await this.waitForInstances(app.name, app.instances);
  }

  /** PM2's process list. */
  async jlist(): Promise<any[]> {
    return JSON.parse(await this.cli(["jlist"]));
  }

  /** The instances of `app` that PM2 reports online and that listen, by NODE_APP_INSTANCE. */
  async instances(app: string): Promise<Instance[]> {
    const online = new Set(
      (await this.jlist()).filter((p) => p.name === app && p.pm2_env?.status === "online").map((p) => p.pid as number),
    );
    const found: Instance[] = [];
    for (const file of readdirSync(this.readyDir(app))) {
      if (!file.endsWith(".json")) continue;
      const instance: Instance = JSON.parse(readFileSync(join(this.readyDir(app), file), "utf8"));
      this.#pids.add(instance.pid);
      if (online.has(instance.pid) && isProcessAlive(instance.pid)) found.push(instance);
    }
    return found.sort((a, b) => a.instance - b.instance);
  }

  /** Waits until `count` instances of `app` are online and listen (and none else), then returns them. */
  async waitForInstances(app: string, count: number, ms = 20_000, exclude: number[] = []): Promise<Instance[]> {
    let found: Instance[] = [];
    await until(
      async () => {
        found = (await this.instances(app)).filter((i) => !exclude.includes(i.pid));
        return found.length === count;
      },
      `${count} instances of ${app} to listen`,
      ms,
    );
    return found;
  }

  /**
   * Waits for an instance of `app` that is not one of `known` to listen, by watching the ready
   * directory only (no `pm2 jlist`, which takes a while): for measuring restarts.
   */
  async waitForNewInstance(app: string, known: number[], ms = 20_000): Promise<Instance> {
    let found: Instance | undefined;
    await until(
      () => {
        found = this.listening(app).find((i) => !known.includes(i.pid));
        return found !== undefined;
      },
      `a new instance of ${app}`,
      ms,
    );
    return found!;
  }

  /** The instances of `app` alive and listening, from the ready directory only (fast, no CLI). */
  listening(app: string): Instance[] {
    const found: Instance[] = [];
    for (const file of readdirSync(this.readyDir(app))) {
      if (!file.endsWith(".json")) continue;
      const instance: Instance = JSON.parse(readFileSync(join(this.readyDir(app), file), "utf8"));
      this.#pids.add(instance.pid);
      if (isProcessAlive(instance.pid)) found.push(instance);
    }
    return found;
  }

  /** The pid of the worker that runs the hub of `group` (from its lock file). */
  hubPid(group: string): number {
    return Number.parseInt(readFileSync(join(this.home, "sio-ipc", `${group}.lock`), "utf8"), 10);
  }

  /** Runs `code` as the body of an async function (io, ctx, require) in an instance. */
  async eval<T = any>(instance: Instance, code: string, ms = 10_000): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${instance.port}/__test/eval`, {
      method: "POST",
      body: code,
      signal: AbortSignal.timeout(ms),
    });
    const reply = (await response.json()) as { value?: T; error?: { message: string } };
    if (reply.error) throw Object.assign(new Error(reply.error.message), reply.error);
    return reply.value as T;
  }

  /** Connects a websocket client to an instance and waits for `connect`. */
  async connect(instance: Instance, nsp = "/", options: object = {}): Promise<Socket> {
    const socket = connectClient(`http://127.0.0.1:${instance.port}${nsp}`, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      ...options,
    });
    this.clients.push(socket);
    await once(socket, "connect", 10_000);
    return socket;
  }

  /** Polls until every given instance counts `expected` servers in `nsp`; returns the time it took. */
  async waitForServerCount(instances: Instance[], expected: number, ms = 10_000, nsp = "/"): Promise<number> {
    const start = Date.now();
    let counts: number[] = [];
    await until(
      async () => {
        counts = await Promise.all(
          instances.map((i) => this.eval<number>(i, `return io.of(${JSON.stringify(nsp)}).adapter.serverCount()`)),
        );
        return counts.every((c) => c === expected);
      },
      `server counts (now ${counts}) to be ${expected}`,
      ms,
    );
    return Date.now() - start;
  }

  async stop(): Promise<void> {
    for (const socket of this.clients) socket.disconnect();
    let daemon = 0;
    try {
      daemon = Number.parseInt(readFileSync(join(this.home, "pm2.pid"), "utf8"), 10);
    } catch {
      // The daemon never started.
    }
    try {
      for (const app of readdirSync(this.home).filter((f) => f.startsWith("ready-"))) {
        await this.instances(app.slice("ready-".length)).catch(() => []);
      }
      await this.cli(["kill"], 10_000);
    } catch {
      // Killed below.
    }
    if (daemon > 0) {
      await until(() => !isProcessAlive(daemon), `the PM2 daemon ${daemon} to exit`, 10_000).catch(() => {
        process.kill(daemon, "SIGKILL");
      });
    }
    for (const pid of this.#pids) {
      if (isProcessAlive(pid)) process.kill(pid, "SIGKILL");
    }
    rmSync(this.home, { recursive: true, force: true });
    // Only now: a timeout may end the process while the steps above run.
    process.off("exit", this.#onExit);
    process.off("SIGALRM", this.#onExit);
  }
}

/** A PM2 daemon of its own for this test file, with `apps` started; torn down in t.teardown. */
export async function startPm2(t: Tap, apps: AppSpec[]): Promise<Pm2Run> {
  const run = new Pm2Run();
  t.teardown(() => run.stop());
  await run.start(apps);
  return run;
}
