/**
 * The hub of a PM2 group: the routing core (hub/hub.ts) run by the one worker that won the
 * election, its links being the Unix-socket connections of every worker of the group (its own
 * included). Winning means creating the lock file; the winner then listens, and puts its socket
 * in place of any stale socket file. It keeps the lock while it is the hub, and steps down (closes every connection, so
 * that the workers elect again) if its socket file is removed or replaced by another process.
 */
import { chmodSync, renameSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import debugModule from "debug";
import { Hub } from "../hub/hub";
import type { HubStats } from "../hub/stats";
import { type UnixSocketLimits, UnixSocketLink } from "../transports/unix-socket";
import { type GroupPaths, temporarySocketPath } from "./directory";
import { createLock, isStale, readLock, removeLock } from "./lock";

const debug = debugModule("socket.io-ipc-adapter:pm2");

/** How often (ms) the hub checks that the socket file is still its own. */
export const SOCKET_CHECK_INTERVAL = 500;

/**
 * Takes the lock if it is free or stale. Call it only after a connection to the socket was
 * refused (ENOENT or ECONNREFUSED): that is what makes an old lock stale. Returns the lock's inode,
 * or null if another process holds it.
 */
export function takeLock(paths: GroupPaths): number | null {
  const ino = createLock(paths.lock);
  if (ino !== null) return ino;
  const lock = readLock(paths.lock);
  if (lock !== null && !isStale(lock)) return null;
  if (lock !== null) {
    debug("remove a stale lock of pid %d (%d ms old)", lock.pid, Math.round(lock.ageMs));
    removeLock(paths.lock, lock.ino);
  }
  return createLock(paths.lock);
}

/** The elected hub of one group: a Hub whose links are the connections to its Unix socket. */
export class SocketHub {
  readonly paths: GroupPaths;
  #hub = new Hub();
  #server: Server;
  #lockIno: number;
  #socketIno = -1;
  #timer: NodeJS.Timeout | null = null;
  #links = 0;
  #closed = false;
  #closeListeners: (() => void)[] = [];
  #limits: UnixSocketLimits;
  #onExit = () => this.#release();

  private constructor(paths: GroupPaths, lockIno: number, limits: UnixSocketLimits) {
    this.paths = paths;
    this.#lockIno = lockIno;
    this.#limits = limits;
    this.#server = createServer({ pauseOnConnect: false }, (socket) => this.#accept(socket));
    // Our sockets never keep a process alive: the Socket.IO server does, as long as it should.
    this.#server.unref();
    process.once("exit", this.#onExit);
  }

  /**
   * Runs the election for `paths`: returns the listening hub if this process won, null if another
   * process holds the lock or listens first.
   */
  static async elect(paths: GroupPaths, limits: UnixSocketLimits = {}): Promise<SocketHub | null> {
    const lockIno = takeLock(paths);
    if (lockIno === null) return null;
    const hub = new SocketHub(paths, lockIno, limits);
    return (await hub.#listen()) ? hub : null;
  }

  /** A snapshot of the routing core's counters. */
  stats(): HubStats {
    return this.#hub.stats();
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  /** Stops being the hub: closes every connection, removes the socket file and the lock if ours. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#server.close();
    this.#release();
    process.off("exit", this.#onExit);
    this.#hub.close();
    debug("hub of %s closed", this.paths.socket);
    for (const listener of this.#closeListeners) listener();
    this.#closeListeners = [];
  }

  #listen(): Promise<boolean> {
    // libuv unlinks a listening socket's path when the server closes: a hub that steps down would
    // remove its successor's file. So listen on a name of our own, then rename it into place (which
    // also replaces, atomically, a stale socket file left by a hub that died).
    const temporary = temporarySocketPath(this.paths);
    return new Promise((resolve) => {
      this.#server.once("error", (error) => {
        debug("cannot listen on %s: %s", temporary, error.message);
        this.close();
        resolve(false);
      });
      // exclusive: in a cluster worker (PM2 cluster mode), listen() is otherwise handed to the
      // cluster primary, PM2's daemon, which would share the handle instead of binding it here.
      this.#server.listen({ path: temporary, exclusive: true }, () => {
        try {
          // The directory (0700) keeps other users out already; this is belt and braces.
          chmodSync(temporary, 0o600);
          renameSync(temporary, this.paths.socket);
          this.#socketIno = statSync(this.paths.socket).ino;
        } catch (error) {
          debug("lost %s right after listening: %s", this.paths.socket, (error as Error).message);
          this.close();
          return resolve(false);
        }
        debug("pid %d is the hub of %s", process.pid, this.paths.socket);
        this.#timer = setInterval(() => this.#check(), SOCKET_CHECK_INTERVAL).unref();
        resolve(true);
      });
    });
  }

  #accept(socket: Socket): void {
    socket.unref();
    this.#hub.addLink(
      new UnixSocketLink(socket, "worker", `connection ${++this.#links}`, { ...this.#limits, forwards: true }),
    );
  }

  /** Steps down if the socket file is no longer ours: another process was elected meanwhile. */
  #check(): void {
    let ino = -1;
    try {
      ino = statSync(this.paths.socket).ino;
    } catch {
      // Removed: nobody could reach this hub any more.
    }
    if (ino === this.#socketIno) return;
    debug("the socket file %s was replaced or removed: step down", this.paths.socket);
    this.#socketIno = -1; // never remove the file of the next hub
    this.close();
  }

  /** Removes the socket file and the lock, each only if it is still ours. Synchronous: runs on exit. */
  #release(): void {
    try {
      if (this.#socketIno !== -1 && statSync(this.paths.socket).ino === this.#socketIno) unlinkSync(this.paths.socket);
    } catch {
      // Already gone.
    }
    this.#socketIno = -1;
    try {
      removeLock(this.paths.lock, this.#lockIno);
    } catch {
      // Already gone, or the directory was removed.
    }
  }
}
