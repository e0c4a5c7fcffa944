/**
 * setupPrimary(): builds the one hub of the `node:cluster` primary and plugs every worker into it.
 */
import type { ChildProcess } from "node:child_process";
import cluster, { type Worker } from "node:cluster";
import { type BridgeOptions, resolveBridgeOptions } from "./bridge/options";
import { ErrorCode, IpcAdapterError } from "./errors";
import { Hub } from "./hub/hub";
import type { HubStats } from "./hub/stats";
import { checkBoolean, checkMessageSize, checkOptionsObject } from "./options";
import { DataSocketServer, UpgradableLink } from "./transports/data-socket";
import { IpcLink, type IpcPeer } from "./transports/ipc";
import type { Link } from "./transports/link";
import { type BridgeStats, RedisBridgeLink } from "./transports/redis-bridge";

/** Options of {@link setupPrimary}. */
export interface PrimaryOptions {
  /**
   * Bridges this machine to Redis, so that several machines (and servers on
   * `@socket.io/redis-streams-adapter`) act as one Socket.IO cluster. The workers' code does not change.
   * @default undefined (this machine only)
   * @example
   * const redis = createClient({ url: "redis://redis.internal:6379" });
   * await redis.connect();
   * setupPrimary({ bridge: { redis } });
   */
  bridge?: BridgeOptions;
  /**
   * The largest message the hub forwards, in bytes of its encoded payload (UTF-8 JSON; binary as
   * base64). A larger one is dropped and counted in `hub.stats().messagesTooLarge`; senders refuse
   * theirs first, with their own `maxMessageSize`: keep the values alike. At most 256 MiB.
   * @default 67_108_864 (64 MiB)
   */
  maxMessageSize?: number;
  /**
   * Moves each worker's traffic from its IPC channel to a Unix socket of the hub, in a directory
   * only this user may enter: the hub then writes a message once per destination without
   * serializing it again for each, which makes large broadcasts several times cheaper for the
   * primary. The IPC channel still carries the handshake (and @socket.io/sticky's connections).
   * `false` keeps everything on IPC; on Windows, or if the socket cannot be made, it is off.
   * @default true
   */
  dataSocket?: boolean;
}

/** The hub that setupPrimary() returns: relays between the workers and the attached helpers. */
export class PrimaryHub {
  #hub: Hub;
  #helpers = new WeakMap<ChildProcess, Link>();
  #bridge: RedisBridgeLink | null = null;
  #dataSocket: DataSocketServer | null;
  #onFork = (worker: Worker) => {
    const ipc = new IpcLink(worker as unknown as IpcPeer, "worker", `worker ${worker.id}`);
    this.#hub.addLink(new UpgradableLink(ipc, { server: this.#dataSocket }));
  };

  /** @internal */
  constructor(opts: PrimaryOptions = {}) {
    this.#hub = new Hub({ maxMessageSize: opts.maxMessageSize });
    this.#dataSocket = opts.dataSocket === false ? null : DataSocketServer.create();
    if (opts.bridge) this.#bridge = new RedisBridgeLink(resolveBridgeOptions(opts.bridge), this.#hub);
    for (const worker of Object.values(cluster.workers ?? {})) if (worker) this.#onFork(worker);
    cluster.on("fork", this.#onFork);
  }

  /** @internal the data socket's path, or null when the workers stay on IPC (tests). */
  get dataSocketPath(): string | null {
    return this.#dataSocket?.closed === false ? this.#dataSocket.path : null;
  }

  /** @internal the routing core, for the primary's own emitters. */
  get core(): Hub {
    return this.#hub;
  }

  /**
   * Relays for a helper process started with `child_process.fork()`, so that an Emitter inside it
   * reaches every worker. Idempotent; the helper is detached when it exits or disconnects.
   */
  attach(child: ChildProcess): this {
    if (typeof child?.send !== "function" || typeof child.on !== "function") {
      throw new TypeError(`hub.attach() expects a ChildProcess started with child_process.fork(), got ${typeof child}`);
    }
    if (this.#helpers.has(child) || this.#hub.closed) return this;
    const link = new IpcLink(child as unknown as IpcPeer, "helper", `helper ${child.pid}`);
    this.#helpers.set(child, link);
    this.#hub.addLink(link);
    return this;
  }

  /** A snapshot of the hub's counters, and the bridge's (`bridge*`) when there is one. */
  stats(): HubStats & Partial<BridgeStats> {
    return this.#bridge ? { ...this.#hub.stats(), ...this.#bridge.stats() } : this.#hub.stats();
  }

  /** Stops relaying and releases every listener. The workers keep running, each on its own. */
  close(): void {
    cluster.off("fork", this.#onFork);
    this.#hub.close();
    this.#dataSocket?.close();
    if (current === this) current = null;
  }
}

let current: PrimaryHub | null = null;

/** The hub of this process, if setupPrimary() ran. */
export function currentHub(): PrimaryHub | null {
  return current;
}

/**
 * Starts the hub in the `node:cluster` primary. Call it once, before forking the workers; a second
 * call returns the same hub. It does not change the cluster's settings (serialization included).
 *
 * @example
 * import cluster from "node:cluster";
 * import { setupPrimary } from "socket.io-ipc-adapter";
 * if (cluster.isPrimary) {
 *   setupPrimary();
 *   for (let i = 0; i < 4; i++) cluster.fork();
 * }
 */
export function setupPrimary(opts?: PrimaryOptions): PrimaryHub {
  const given = checkOptionsObject(opts, "setupPrimary()");
  // Checked before the process check and before `current`: a wrong option throws on every call.
  if (given.bridge !== undefined) resolveBridgeOptions(given.bridge);
  if (given.maxMessageSize !== undefined) checkMessageSize("maxMessageSize", given.maxMessageSize);
  if (given.dataSocket !== undefined) checkBoolean("dataSocket", given.dataSocket);
  if (!cluster.isPrimary) {
    throw new IpcAdapterError(
      ErrorCode.WRONG_PROCESS,
      "setupPrimary() must run in the cluster primary (cluster.isPrimary is false here); in a worker, use io.adapter(createAdapter())",
    );
  }
  current ??= new PrimaryHub(given as PrimaryOptions);
  return current;
}
