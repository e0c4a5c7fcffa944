/**
 * The member side of an emitter: one per process, shared by every Emitter in it. It knows which
 * servers serve which namespace (from the hub's WELCOME, NAMESPACE and LEFT notices), so that a
 * request waits for exactly the servers that will answer.
 */
import cluster from "node:cluster";
import debugModule from "debug";
import type { ClusterMessage, ClusterResponse } from "socket.io-adapter";
import { ErrorCode, IpcAdapterError } from "./errors";
import { Peer, randomId } from "./peer";
import { currentHub } from "./primary";
import { checkSize, encode } from "./protocol/codec";
import { EMITTER_UID_PREFIX, type Envelope, envelope, Kind } from "./protocol/messages";
import { Requests } from "./requests";
import { IpcLink, type IpcPeer } from "./transports/ipc";
import type { Link } from "./transports/link";
import { createLocalLinks } from "./transports/local";

const debug = debugModule("socket.io-ipc-adapter:emitter");

/** How long a forked helper waits for its parent's hub to answer before it reports that it was not attached. */
export const HANDSHAKE_TIMEOUT = 1_000;

const WHERE =
  "Emitter works only in the cluster primary after setupPrimary(), or in a child forked by the primary and passed to hub.attach(child)";

function wrongProcess(why: string): IpcAdapterError {
  return new IpcAdapterError(ErrorCode.WRONG_PROCESS, `${WHERE}; ${why}`);
}

interface Channel {
  ref(): void;
  unref(): void;
}

/** The events whose listeners keep a child's IPC channel, and so the process, alive (Node's own rule). */
const KEEP_ALIVE_EVENTS = new Set<string | symbol>(["message", "disconnect"]);

export class EmitterPeer extends Peer {
  #servers = new Map<string, Set<string>>();
  #requests = new Map<string, Requests>();
  #failure: Error | null = null;
  #ready: Promise<void>;
  #settleReady: (error: Error | null) => void = () => {};
  #timer: NodeJS.Timeout | null = null;
  #channel: Channel | null;
  #holds = 0;
  // Once ref() or unref() is called on the channel, Node stops counting the "message" listeners:
  // we count those that are not ours, so that a helper that listens to its parent stays alive.
  #onListenerAdded = (event: string | symbol) => {
    if (KEEP_ALIVE_EVENTS.has(event)) this.#channel?.ref();
  };
  #onListenerRemoved = (event: string | symbol) => {
    if (KEEP_ALIVE_EVENTS.has(event)) this.#updateRef();
  };

  constructor(link: Link, channel: Channel | null) {
    super("emitter", `${EMITTER_UID_PREFIX}:${randomId()}`, link, debug);
    this.#channel = channel;
    this.#ready = new Promise((resolve, reject) => {
      this.#settleReady = (error) => (error ? reject(error) : resolve());
    });
    // Nobody awaits it when only fire-and-forget operations are used.
    this.#ready.catch(() => {});
    if (channel) {
      process.on("newListener", this.#onListenerAdded);
      process.on("removeListener", this.#onListenerRemoved);
      this.#timer = setTimeout(() => {
        this.#fail(
          wrongProcess(
            `the parent of this process did not answer in ${HANDSHAKE_TIMEOUT} ms: call hub.attach(child) in the primary`,
          ),
        );
        process.emitWarning(this.#failure!.message, { code: ErrorCode.WRONG_PROCESS });
      }, HANDSHAKE_TIMEOUT);
      this.hold();
    }
  }

  /** Resolves once the hub has answered; rejects with the reason this emitter cannot work. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Throws the reason this emitter cannot work, if it cannot. */
  check(): void {
    if (this.#failure) throw this.#failure;
  }

  /** The servers that serve `nsp`. */
  serversOf(nsp: string): string[] {
    const uids: string[] = [];
    for (const [uid, namespaces] of this.#servers) if (namespaces.has(nsp)) uids.push(uid);
    return uids;
  }

  requestsOf(nsp: string): Requests {
    let requests = this.#requests.get(nsp);
    if (!requests) {
      requests = new Requests();
      this.#requests.set(nsp, requests);
    }
    return requests;
  }

  /**
   * Encodes a ClusterMessage now: an argument that cannot be sent, or a message larger than
   * `maxSize` bytes, throws at the caller.
   */
  prepare(message: Omit<ClusterMessage, "uid">, maxSize: number): Envelope {
    this.check();
    const full = { ...message, uid: this.uid } as ClusterMessage;
    return envelope({ k: Kind.PUBLISH, d: checkSize(encode(full, "message"), maxSize) });
  }

  /**
   * Keeps a helper process alive while it waits for answers; an idle helper may exit, as a
   * process with no listener on its IPC channel does (unless the user listens to it).
   */
  hold(): void {
    if (this.#holds++ === 0) this.#updateRef();
  }

  release(): void {
    if (--this.#holds === 0) this.#updateRef();
  }

  #updateRef(): void {
    if (!this.#channel) return;
    // Our IpcLink listens to "message" and "disconnect" once each, while it is open.
    const ours = this.connected ? 1 : 0;
    const theirs = process.listenerCount("message") > ours || process.listenerCount("disconnect") > ours;
    if ((this.#holds > 0 && this.connected) || theirs) this.#channel.ref();
    else this.#channel.unref();
  }

  protected onWelcome(servers: [string, string[]][]): void {
    for (const [uid, namespaces] of servers) this.#servers.set(uid, new Set(namespaces));
    debug("[%s] the hub answered: %d servers", this.uid, servers.length);
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.release();
    }
    this.#settleReady(null);
  }

  protected onClusterMessage(): void {
    // The hub sends PUBLISH to servers only.
  }

  protected onClusterResponse(response: ClusterResponse): void {
    this.#requests.get(response.nsp)?.onResponse(response);
  }

  protected onNamespace(uid: string, nsp: string, up: boolean): void {
    let namespaces = this.#servers.get(uid);
    if (!namespaces) {
      namespaces = new Set();
      this.#servers.set(uid, namespaces);
    }
    if (up) return void namespaces.add(nsp);
    namespaces.delete(nsp);
    this.#requests.get(nsp)?.serverLeft(uid);
  }

  protected onLeft(uid: string): void {
    // The hub says that this emitter left: it is closing (hub.close() in the primary).
    if (uid === this.uid) return this.closeLink();
    this.#servers.delete(uid);
    for (const requests of this.#requests.values()) requests.serverLeft(uid);
  }

  protected onHubGone(): void {
    process.off("newListener", this.#onListenerAdded);
    process.off("removeListener", this.#onListenerRemoved);
    this.#fail(
      new IpcAdapterError(
        ErrorCode.HUB_GONE,
        "the Emitter lost its hub (hub.close() was called, or the primary disconnected from this helper); create a new Emitter after setupPrimary() or hub.attach(child)",
      ),
    );
    // Every server is out of reach: requests settle as when servers leave, broadcasts with acks too
    // (closeAll alone would leave those to their timeout).
    for (const uid of this.#servers.keys()) this.onLeft(uid);
    for (const requests of this.#requests.values()) requests.closeAll();
    // Nothing can arrive any more: from now on, only the user's own listeners keep a helper alive.
    this.#updateRef();
    this.#channel = null;
    if (current === this) current = null;
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    debug("[%s] %s", this.uid, error.message);
    this.#settleReady(error);
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.release();
    }
  }
}

let current: EmitterPeer | null = null;

/** The process's emitter peer: in-process to the hub in the primary, over IPC in a forked helper. */
export function acquireEmitterPeer(): EmitterPeer {
  if (current?.connected) return current;
  const hub = currentHub();
  if (hub) {
    const [hubEnd, memberEnd] = createLocalLinks("the primary's emitter");
    hub.core.addLink(hubEnd);
    current = new EmitterPeer(memberEnd, null);
    return current;
  }
  if (cluster.isPrimary && Object.keys(cluster.workers ?? {}).length > 0) {
    // A primary may have an IPC channel of its own (started by a supervisor, a test runner, PM2 in
    // fork mode): it must not be mistaken for a helper.
    throw wrongProcess("this process is the cluster primary and setupPrimary() has not been called: call it first");
  }
  if (cluster.isWorker) {
    throw wrongProcess(
      "this process is a cluster worker: use io.emit(), io.serverSideEmit() and io.fetchSockets() there",
    );
  }
  if (typeof process.send !== "function" || !process.connected) {
    throw wrongProcess(
      "this process is neither (in the primary, call setupPrimary() first; a standalone process has no cluster to reach)",
    );
  }
  const channel = (process as unknown as { channel?: Channel }).channel ?? null;
  current = new EmitterPeer(new IpcLink(process as unknown as IpcPeer, "helper", "the primary"), channel);
  return current;
}
