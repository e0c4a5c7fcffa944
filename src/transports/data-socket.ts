/**
 * The data socket: under `node:cluster`, each worker's envelopes move from its IPC channel to a Unix
 * socket of the hub, right after the worker starts.
 *
 * Why: on an IPC channel, Node serializes a message once per destination (JSON.stringify, then a
 * UTF-8 copy per write) and parses every line it reads: a 10 KB broadcast to three workers costs the
 * primary one parse and three stringify passes over 10 KB. On the socket, the hub encodes an
 * envelope into a frame once, whatever the number of destinations (see encodeFrame), and each write
 * is a copy of the same bytes. The IPC channel stays for what Node and other libraries use it for
 * (@socket.io/sticky, cluster's own messages).
 *
 * The handshake keeps every envelope in order in both directions. Both sides start on IPC:
 * 1. worker -> hub (IPC): UPGRADE, a request;
 * 2. hub -> worker (IPC): UPGRADE `p` (the socket's path) and `t` (a one-time token);
 * 3. the worker connects and writes UPGRADE `t` as the first frame;
 * 4. the hub finds the offer by its token, sends UPGRADE `s: 1` as its last IPC envelope and from
 *    then on sends on the socket;
 * 5. on that marker the worker reads the socket (holding what came on it before the marker), sends
 *    UPGRADE `s: 1` as its last IPC envelope and from then on sends on the socket;
 * 6. on the worker's marker the hub reads the socket (what came before was held, in order).
 * Anything that fails before step 4 (no socket on this platform, a path too long, a refused
 * connection) leaves both sides on IPC, which works as before. After the switch, the socket closing
 * is the link closing (the worker exited, or the hub closed), as the IPC channel's would be.
 *
 * The socket lives in a directory that only this user may enter (mkdtemp: mode 0700), and a
 * connection that does not present a token offered on a worker's own IPC channel within
 * TOKEN_TIMEOUT is closed: no other process can pose as a worker.
 */
import { randomBytes } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import debugModule from "debug";
import {
  checkEnvelope,
  type Envelope,
  envelope,
  isOwnMessage,
  Kind,
  MESSAGE_SOURCE,
  PROTOCOL_VERSION,
  type Upgrade,
} from "../protocol/messages";
import type { IpcLink } from "./ipc";
import { DrainingLink, type Link, type LinkKind } from "./link";
import { connectUnixSocket, UnixSocketLink } from "./unix-socket";

const debug = debugModule("socket.io-ipc-adapter:data-socket");

/** How long (ms) a connection to the data socket may take to present its token before it is closed. */
export const TOKEN_TIMEOUT = 5_000;

/** The longest socket path Linux and macOS accept (sun_path is 108 and 104 bytes, with the NUL). */
const MAX_SOCKET_PATH = 103;

function isUpgrade(message: unknown): message is Upgrade {
  return (
    isOwnMessage(message) &&
    message[MESSAGE_SOURCE] === PROTOCOL_VERSION &&
    (message as { k?: unknown }).k === Kind.UPGRADE &&
    checkEnvelope(message as Record<string, unknown>) === null
  );
}

/** The data socket's directory is `<tmpdir>/sio-ipc-hub-XXXXXX`, with `hub.sock` in it. */
const DIR_PREFIX = "sio-ipc-hub-";
const SOCKET_NAME = "hub.sock";

/**
 * Removes the directories of this user's earlier primaries that died without cleaning up (killed by
 * a signal they did not handle, e.g. SIGTERM or SIGKILL): a directory of ours that holds only
 * `hub.sock`, where nobody accepts a connection. A live hub accepts one, and its directory stays.
 * In the background; errors are ignored (another user's directory cannot even be read).
 */
function sweepStaleDirectories(own: string): void {
  const root = tmpdir();
  let names: string[];
  try {
    names = readdirSync(root).filter((name) => name.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const dir = join(root, name);
    if (dir === own) continue;
    try {
      const stat = lstatSync(dir);
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
      const entries = readdirSync(dir);
      if (entries.length !== 1 || entries[0] !== SOCKET_NAME) continue;
    } catch {
      continue;
    }
    const probe = createConnection(join(dir, SOCKET_NAME));
    probe.on("connect", () => probe.destroy());
    probe.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNREFUSED") return;
      rmSync(dir, { recursive: true, force: true });
      debug("removed %s, left by a primary that did not clean up", dir);
    });
    probe.unref();
  }
}

/** Worker side: data sockets of closed links that are still flushing what they sent. */
const closingSockets = new Set<Socket>();

/** The hub's Unix socket server; the worker links it offers are adopted by token. */
export class DataSocketServer {
  readonly path: string;
  #dir: string;
  #server: Server;
  #offers = new Map<string, (link: UnixSocketLink) => void>();
  #closed = false;
  #cleanup = () => rmSync(this.#dir, { recursive: true, force: true });

  /** A listening server, or null where there can be none (Windows, a temp dir path too long, an error). */
  static create(): DataSocketServer | null {
    if (process.platform === "win32") return null;
    try {
      return new DataSocketServer();
    } catch (error) {
      debug("no data socket, workers stay on IPC: %s", (error as Error).message);
      return null;
    }
  }

  private constructor() {
    const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    const path = join(dir, SOCKET_NAME);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes`);
    }
    this.#dir = dir;
    this.path = path;
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on("error", (error) => {
      // Offers already made then fail at the worker's connect: it stays on IPC.
      debug("data socket server error, workers stay on IPC: %s", error.message);
      this.close();
    });
    this.#server.listen(path);
    // The workers' IPC channels keep the primary alive, not this.
    this.#server.unref();
    process.on("exit", this.#cleanup);
    debug("listening on %s", path);
    sweepStaleDirectories(dir);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Registers a one-time token: the connection that presents it is handed to `adopt`. */
  offer(adopt: (link: UnixSocketLink) => void): string {
    const token = randomBytes(16).toString("hex");
    this.#offers.set(token, adopt);
    return token;
  }

  withdraw(token: string): void {
    this.#offers.delete(token);
  }

  /** Stops listening and removes the socket's directory. Connections already adopted stay theirs' to close. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#offers.clear();
    this.#server.close();
    process.off("exit", this.#cleanup);
    this.#cleanup();
  }

  #accept(socket: Socket): void {
    socket.unref();
    const link = new UnixSocketLink(socket, "worker", "a data socket connection", { forwards: true });
    const timer = setTimeout(() => {
      debug("close a data socket connection that presented no token in %d ms", TOKEN_TIMEOUT);
      link.close();
    }, TOKEN_TIMEOUT).unref();
    let first = true;
    link.onClose(() => clearTimeout(timer));
    link.onMessage((message) => {
      if (!first) return;
      first = false;
      clearTimeout(timer);
      const token = isUpgrade(message) ? message.t : undefined;
      const adopt = token === undefined ? undefined : this.#offers.get(token);
      if (token === undefined || adopt === undefined) {
        debug("close a data socket connection without a valid token");
        return link.close();
      }
      this.#offers.delete(token);
      adopt(link);
    });
  }
}

/**
 * A worker's link: its IPC channel, then the data socket once the handshake is through. The same
 * class on both sides: the hub's (with the server, or null when there is none: requests are then
 * left unanswered) and the worker's (`"worker"`: it asks at once).
 */
export class UpgradableLink extends DrainingLink implements Link {
  readonly kind: LinkKind;
  readonly name: string;
  #ipc: IpcLink;
  #side: { server: DataSocketServer | null } | "worker";
  #data: UnixSocketLink | null = null;
  #token: string | null = null;
  /** This side sends on the data socket. */
  #sendOnData = false;
  /** The peer's IPC marker came: its envelopes on the socket are handed on (before that, held). */
  #readData = false;
  #held: unknown[] = [];
  /** Worker side: envelopes sent while the previous link's socket closes (see the constructor). */
  #waiting: Envelope[] | null = null;
  #closed = false;

  constructor(ipc: IpcLink, side: { server: DataSocketServer | null } | "worker") {
    super();
    this.#ipc = ipc;
    this.kind = ipc.kind;
    this.name = ipc.name;
    this.#side = side;
    ipc.onMessage((message) => this.#fromIpc(message));
    ipc.onDropped((error, count) => this.listeners.dropped(error, count));
    ipc.onClose(() => this.close());
    if (side !== "worker") return;
    if (closingSockets.size === 0) {
      ipc.sendAlone(envelope<Upgrade>({ k: Kind.UPGRADE }));
      return;
    }
    // The data socket of this process's previous link (its last server closed, a new one starts) is
    // still being flushed: what this link sends over IPC must not overtake what that one sent (a
    // BYE), so it waits until the hub has read all of it and closed its end.
    this.#waiting = [];
    const socket = [...closingSockets][closingSockets.size - 1];
    socket.once("close", () => {
      const waiting = this.#waiting ?? [];
      this.#waiting = null;
      if (this.#closed) return;
      ipc.sendAlone(envelope<Upgrade>({ k: Kind.UPGRADE }));
      for (const message of waiting) ipc.send(message);
    });
  }

  /** @internal the data socket's link, once connected (tests write to it). */
  get data(): UnixSocketLink | null {
    return this.#data;
  }

  /** On the data socket, a BATCH of plain broadcasts goes as is (see Link). */
  get acceptsBatches(): boolean {
    return this.#sendOnData;
  }

  /** True once this side sends on the data socket (for tests and debugging). */
  get upgraded(): boolean {
    return this.#sendOnData;
  }

  /** Bytes waiting for the peer on the transport in use (what a sender may pace itself by). */
  get queuedBytes(): number {
    return this.#sendOnData ? (this.#data as UnixSocketLink).queuedBytes : this.#ipc.queuedBytes;
  }

  get queued(): number {
    return this.#ipc.queued + (this.#data?.queued ?? 0);
  }

  send(message: Envelope): void {
    if (this.#sendOnData) (this.#data as UnixSocketLink).send(message);
    else if (this.#waiting !== null) this.#waiting.push(message);
    else this.#ipc.send(message);
  }

  /** Flow control acts on the data socket; IPC, which cannot pause, is read on. */
  pauseReading(): void {
    this.#data?.pauseReading();
  }

  resumeReading(): void {
    this.#data?.resumeReading();
  }

  /** Closes the IPC side (listeners only, as IpcLink does) and the data socket (flushed first). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#token !== null && this.#side !== "worker") this.#side.server?.withdraw(this.#token);
    this.#ipc.close();
    const data = this.#data;
    if (data !== null && this.#side === "worker") {
      const socket = data.socket;
      if (!socket.destroyed) {
        closingSockets.add(socket);
        socket.once("close", () => closingSockets.delete(socket));
      }
    }
    data?.close();
    this.#held = [];
    this.listeners.closed();
  }

  #fromIpc(message: unknown): void {
    if (!isUpgrade(message)) return this.listeners.message(message);
    if (this.#closed) return;
    if (this.#side === "worker") {
      if (message.s === 1) return this.#switch();
      if (message.p !== undefined && message.t !== undefined) this.#connect(message.p, message.t);
      return;
    }
    if (message.s === 1) return this.#startReading();
    if (message.p !== undefined || message.t !== undefined || message.s !== undefined) return;
    // A request while this link has a data socket: the worker's previous link closed (its last
    // server closed) and a new server starts over. The worker asks only once the old socket has
    // closed on its side, which is after this hub read all of it: the old one is done with.
    if (this.#data !== null) this.#backToIpc();
    this.#offer(this.#side.server);
  }

  /** Hub side, step 2. */
  #offer(server: DataSocketServer | null): void {
    if (server === null || server.closed || this.#token !== null) return;
    this.#token = server.offer((link) => this.#adopt(link));
    this.#ipc.sendAlone(envelope<Upgrade>({ k: Kind.UPGRADE, p: server.path, t: this.#token }));
  }

  /** Hub side, step 4. */
  #adopt(link: UnixSocketLink): void {
    if (this.#closed) return link.close();
    link.name = this.name;
    this.#use(link);
    this.#ipc.sendAlone(envelope<Upgrade>({ k: Kind.UPGRADE, s: 1 }));
    this.#sendOnData = true;
    debug("%s: the hub sends on the data socket", this.name);
  }

  /** Worker side, step 3. */
  #connect(path: string, token: string): void {
    if (this.#data !== null) return;
    let link: UnixSocketLink;
    try {
      link = new UnixSocketLink(connectUnixSocket(path), this.kind, this.name);
    } catch (error) {
      return debug("cannot connect to the data socket %s, stay on IPC: %s", path, (error as Error).message);
    }
    this.#use(link);
    link.send(envelope<Upgrade>({ k: Kind.UPGRADE, t: token }));
  }

  /** Worker side, step 5. */
  #switch(): void {
    // The hub sends on a socket that is gone already: this worker lost the hub.
    if (this.#data === null) return this.close();
    this.#startReading();
    this.#ipc.sendAlone(envelope<Upgrade>({ k: Kind.UPGRADE, s: 1 }));
    this.#sendOnData = true;
    debug("%s: the worker sends on the data socket", this.name);
  }

  #use(link: UnixSocketLink): void {
    this.#data = link;
    link.onMessage((message) => {
      if (this.#data !== link || isUpgrade(message)) return;
      if (this.#readData) this.listeners.message(message);
      else this.#held.push(message);
    });
    link.onDropped((error, count) => this.listeners.dropped(error, count));
    link.onDrain(() => {
      if (this.#data === link) this.listeners.drain();
    });
    link.onClose(() => {
      if (this.#data !== link || this.#closed) return;
      // A worker whose socket closes after the switch lost its hub (hub.close()).
      if (this.#side === "worker" && (this.#sendOnData || this.#readData)) return this.close();
      // The hub closed it on a bad frame: the worker's stream is corrupt, what it sent since is
      // lost. It is out, as if it had exited: the others hear it LEFT (and it sees its socket
      // close, so it knows it is alone).
      if (link.rejected) return this.close();
      // Before the switch, the IPC channel still works: stay on it. In the hub, after the switch:
      // the worker closed its link (its last server closed; a BYE came first) while its process
      // lives on, and a new server of that process will start over on IPC.
      this.#backToIpc();
    });
  }

  /** Drops the data socket (closed, or replaced by a new request): from now on, IPC again. */
  #backToIpc(): void {
    const data = this.#data;
    debug("%s: the data socket closed, back to IPC", this.name);
    this.#data = null;
    this.#held = [];
    this.#token = null;
    this.#sendOnData = false;
    this.#readData = false;
    data?.close();
  }

  /** Steps 5 (worker) and 6 (hub): what the peer sent on the socket after its marker, in order. */
  #startReading(): void {
    if (this.#readData || this.#data === null) return;
    this.#readData = true;
    const held = this.#held;
    this.#held = [];
    for (const message of held) {
      if (this.#closed) return;
      this.listeners.message(message);
    }
  }
}
