/**
 * Reused memory for what waits behind a backlog.
 *
 * Bytes queued for a peer that reads slowly wait seconds: in fresh buffers, they would outlive V8's
 * young generation and, once written, pile up as old garbage that only a full collection frees
 * (tens of MB before V8 bothers). Copied into blocks of this pool instead, they cost the backlog's
 * size and no more: a block whose write is done serves the next one, and the buffers they came
 * from die young. Free blocks are kept up to one full queue (MAX_QUEUED_BYTES) and dropped after
 * TRIM_AFTER ms without use.
 */
import type { Socket } from "node:net";
import { MAX_QUEUED_BYTES } from "./link";

export const BLOCK_SIZE = 64 * 1024;
const MAX_FREE_BLOCKS = MAX_QUEUED_BYTES / BLOCK_SIZE;
/** A write larger than this (a huge message) gets a buffer of its own rather than many blocks. */
const MAX_POOLED_WRITE = 2 * 1024 * 1024;
const TRIM_AFTER = 10_000;

const free: Buffer[] = [];
let lastTaken = 0;
let trimming = false;

function take(): Buffer {
  lastTaken = Date.now();
  return free.pop() ?? Buffer.allocUnsafeSlow(BLOCK_SIZE);
}

function give(block: Buffer): void {
  if (free.length >= MAX_FREE_BLOCKS) return;
  free.push(block);
  if (trimming) return;
  trimming = true;
  setTimeout(trim, TRIM_AFTER).unref();
}

function trim(): void {
  const idle = Date.now() - lastTaken;
  if (idle < TRIM_AFTER) {
    setTimeout(trim, TRIM_AFTER - idle).unref();
    return;
  }
  free.length = 0;
  trimming = false;
}

/** Free blocks held now (tests). */
export function freeBlocks(): number {
  return free.length;
}

interface Block {
  buffer: Buffer;
  /** Writes from this block not yet done. */
  refs: number;
}

/**
 * Copies what one socket writes behind its backlog into pool blocks, filled one after the other
 * across writes (a tick's few frames do not take a block each): a block goes back to the pool once
 * it is full and all its writes are done.
 */
export class BlockWriter {
  #socket: Socket;
  #current: Block | null = null;
  #used = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Writes copies of `buffers` (`total` bytes); `written` is called after the last is written. */
  write(buffers: Buffer[], total: number, written: (error?: Error | null) => void): void {
    const socket = this.#socket;
    if (total > MAX_POOLED_WRITE) {
      const out = Buffer.allocUnsafeSlow(total);
      let offset = 0;
      for (const buffer of buffers) offset += buffer.copy(out, offset);
      socket.write(out, written);
      return;
    }
    const pieces: [block: Block, start: number, end: number][] = [];
    let block = this.#block();
    let start = this.#used;
    for (const buffer of buffers) {
      let offset = 0;
      while (offset < buffer.length) {
        const n = buffer.copy(
          block.buffer,
          this.#used,
          offset,
          Math.min(buffer.length, offset + BLOCK_SIZE - this.#used),
        );
        this.#used += n;
        offset += n;
        if (this.#used === BLOCK_SIZE) {
          pieces.push([block, start, BLOCK_SIZE]);
          this.#current = null;
          block = this.#block();
          start = 0;
        }
      }
    }
    if (this.#used > start) pieces.push([block, start, this.#used]);
    socket.cork();
    for (let i = 0; i < pieces.length; i++) {
      const [piece, from, to] = pieces[i];
      const last = i === pieces.length - 1;
      piece.refs++;
      socket.write(piece.buffer.subarray(from, to), (error?: Error | null) => {
        this.#done(piece);
        if (last) written(error);
      });
    }
    socket.uncork();
  }

  /** The block being filled (a new one from the pool if none). */
  #block(): Block {
    if (this.#current === null) {
      this.#current = { buffer: take(), refs: 0 };
      this.#used = 0;
    }
    return this.#current;
  }

  #done(block: Block): void {
    if (--block.refs > 0) return;
    if (block === this.#current)
      this.#used = 0; // nothing in flight from it: fill it from the start
    else give(block.buffer);
  }
}
