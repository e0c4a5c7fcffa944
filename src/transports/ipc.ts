/**
 * A link over a Node IPC channel: a `node:cluster` Worker or a ChildProcess started with
 * `child_process.fork()`. Both have `send(message, callback)` and the `message`, `disconnect` and
 * `exit` events.
 */
import type { EventEmitter } from "node:events";
import debugModule from "debug";
import type { Envelope } from "../protocol/messages";
import type { Link, LinkKind } from "./link";

const debug = debugModule("socket.io-ipc-adapter:ipc");

/** What a Worker and a ChildProcess have in common. */
export interface IpcPeer extends EventEmitter {
  send(message: unknown, callback?: (error: Error | null) => void): boolean;
  isConnected?(): boolean;
  connected?: boolean;
}

function isPeerConnected(peer: IpcPeer): boolean {
  return typeof peer.isConnected === "function" ? peer.isConnected() : peer.connected !== false;
}

export class IpcLink implements Link {
  readonly name: string;
  readonly kind: LinkKind;
  #peer: IpcPeer;
  #queued = 0;
  #closed = false;
  #messageListeners: ((message: unknown) => void)[] = [];
  #closeListeners: (() => void)[] = [];
  #droppedListeners: ((error: Error) => void)[] = [];
  // One callback for every send: no closure per message.
  #onSent = (error: Error | null) => {
    this.#queued--;
    if (error) this.#drop(error);
  };
  #onMessage = (message: unknown) => {
    for (const listener of this.#messageListeners) listener(message);
  };
  #onGone = () => this.close();

  constructor(peer: IpcPeer, kind: LinkKind, name: string) {
    this.#peer = peer;
    this.kind = kind;
    this.name = name;
    peer.on("message", this.#onMessage);
    peer.on("disconnect", this.#onGone);
    peer.on("exit", this.#onGone);
    if (!isPeerConnected(peer)) queueMicrotask(this.#onGone);
  }

  get queued(): number {
    return this.#queued;
  }

  send(message: Envelope): void {
    if (this.#closed || !isPeerConnected(this.#peer)) {
      this.#drop(new Error(`${this.name} is not connected`));
      return;
    }
    this.#queued++;
    try {
      this.#peer.send(message, this.#onSent);
    } catch (error) {
      // A synchronous throw (e.g. the channel closed between the check and the send).
      this.#queued--;
      this.#drop(error as Error);
    }
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  onDropped(listener: (error: Error) => void): void {
    this.#droppedListeners.push(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#peer.off("message", this.#onMessage);
    this.#peer.off("disconnect", this.#onGone);
    this.#peer.off("exit", this.#onGone);
    debug("%s closed", this.name);
    for (const listener of this.#closeListeners) listener();
    this.#messageListeners = [];
    this.#closeListeners = [];
  }

  #drop(error: Error): void {
    debug("could not send to %s: %s", this.name, error.message);
    for (const listener of this.#droppedListeners) listener(error);
  }
}
