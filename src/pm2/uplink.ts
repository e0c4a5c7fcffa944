/**
 * A worker's way to the hub of its PM2 group, which it finds again whenever it is lost: connect to
 * the group's socket; if nobody listens there, run the election (the winner starts the hub in its
 * own process, then connects to it through the socket like everyone else); otherwise retry after
 * a short, growing, jittered delay.
 */
import type { Socket } from "node:net";
import debugModule from "debug";
import type { HubStats } from "../hub/stats";
import type { Link } from "../transports/link";
import { connectUnixSocket, type UnixSocketLimits, UnixSocketLink } from "../transports/unix-socket";
import type { GroupPaths } from "./directory";
import { SocketHub } from "./socket-hub";

const debug = debugModule("socket.io-ipc-adapter:pm2");

/** The first retry delay (ms) after a lost election or a failed connection; it doubles up to MAX_RETRY_DELAY. */
export const MIN_RETRY_DELAY = 5;
/**
 * The longest delay (ms) between two attempts to reach the hub. Short: an attempt is one local
 * connect(), and the gap after a hub's death is as long as the slowest worker's next attempt.
 */
export const MAX_RETRY_DELAY = 100;

/** A source of links to the hub, for transports that find the hub again when it is lost. */
export interface Uplink {
  /** Starts connecting; calls `onLink` once, with the next connected link. */
  connect(onLink: (link: Link) => void): void;
  /** The hub answered on the last link: the next loss starts over with short delays. */
  reset(): void;
  /** Stops connecting, and stops the hub if this process runs it. */
  close(): void;
  /** The counters of the hub this process runs, or null if another process runs it. */
  hubStats(): HubStats | null;
}

/** True in a PM2 cluster-mode worker: PM2 sets `pm_id`, and `exec_mode` to "cluster_mode". */
export function isPm2Cluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.pm_id !== undefined && env.exec_mode === "cluster_mode";
}

function tryConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectUnixSocket(path);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** The uplink of PM2 mode: a Unix socket to the elected hub of the group. */
export class ElectedUplink implements Uplink {
  readonly paths: GroupPaths;
  #uid: string;
  #limits: UnixSocketLimits;
  #hub: SocketHub | null = null;
  #closed = false;
  #attempts = 0;
  #connecting = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(paths: GroupPaths, uid: string, limits: UnixSocketLimits = {}) {
    this.paths = paths;
    this.#uid = uid;
    this.#limits = limits;
  }

  /** The hub this process runs, if it won the election. */
  get hub(): SocketHub | null {
    return this.#hub;
  }

  connect(onLink: (link: Link) => void): void {
    if (this.#closed || this.#connecting) return;
    this.#connecting = true;
    // Right away the first time, after a delay when an attempt just failed.
    this.#schedule(onLink, this.#attempts === 0 ? 0 : this.#delay());
  }

  reset(): void {
    this.#attempts = 0;
  }

  hubStats(): HubStats | null {
    return this.#hub?.stats() ?? null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#hub?.close();
    this.#hub = null;
  }

  #delay(): number {
    const base = Math.min(MAX_RETRY_DELAY, MIN_RETRY_DELAY * 2 ** Math.min(this.#attempts, 16));
    return Math.round(base * (0.5 + Math.random()));
  }

  #schedule(onLink: (link: Link) => void, delay: number): void {
    const run = () => {
      this.#timer = null;
      this.#attempt(onLink).catch((error) => {
        debug("[%s] attempt to reach the hub failed: %O", this.#uid, error);
        this.#attempts++;
        this.#schedule(onLink, this.#delay());
      });
    };
    if (delay === 0) return void queueMicrotask(run);
    this.#timer = setTimeout(run, delay);
    this.#timer.unref();
  }

  async #attempt(onLink: (link: Link) => void): Promise<void> {
    if (this.#closed) return;
    let socket: Socket;
    try {
      socket = await tryConnect(this.paths.socket);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.#attempts++;
      if ((code === "ENOENT" || code === "ECONNREFUSED") && this.#hub === null) {
        // Nobody listens: run the election; the winner connects to itself at once.
        const hub = await SocketHub.elect(this.paths, this.#limits);
        if (this.#closed) return void hub?.close();
        if (hub) {
          this.#hub = hub;
          hub.onClose(() => {
            if (this.#hub === hub) this.#hub = null;
          });
          return this.#schedule(onLink, 0);
        }
      }
      debug("[%s] no hub on %s yet (%s): retry", this.#uid, this.paths.socket, code);
      return this.#schedule(onLink, this.#delay());
    }
    if (this.#closed) return void socket.destroy();
    socket.unref();
    this.#connecting = false;
    debug("[%s] connected to the hub on %s", this.#uid, this.paths.socket);
    onLink(new UnixSocketLink(socket, "worker", "the hub", this.#limits));
  }
}
