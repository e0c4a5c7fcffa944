/**
 * Numbered broadcasts for the fault tests: each worker sends `m(sender, stream, seq)` to everyone
 * ("all") and to room "r" ("r"), seq counting up from 0 per stream, until told to stop; clients
 * record what they receive, so that loss, duplicates and reordering show per sender.
 */
import type { Socket } from "socket.io-client";
import type { TestWorker } from "../helpers/cluster";

/** Starts the storm in a worker: one message to each stream per turn, a timer turn every `batch` messages. */
export function startStorm(worker: TestWorker, batch = 4): Promise<unknown> {
  return worker.eval(`
    const sender = ${worker.index};
    ctx.sent = { all: 0, r: 0 };
    ctx.stop = false;
    ctx.stormDone = (async () => {
      while (!ctx.stop) {
        for (let i = 0; i < ${batch}; i++) {
          io.emit("m", sender, "all", ctx.sent.all++);
          io.to("r").emit("m", sender, "r", ctx.sent.r++);
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    return true;`);
}

/** Stops the storm in a worker; resolves with the number of messages it sent per stream. */
export function stopStorm(worker: TestWorker): Promise<{ all: number; r: number }> {
  return worker.eval(`ctx.stop = true; await ctx.stormDone; return ctx.sent;`);
}

/** What one client received, per `${sender}:${stream}`, in arrival order. */
export class Received {
  readonly bySender = new Map<string, number[]>();

  constructor(socket: Socket) {
    socket.on("m", (sender: number, stream: string, seq: number) => {
      const key = `${sender}:${stream}`;
      let list = this.bySender.get(key);
      if (!list) {
        list = [];
        this.bySender.set(key, list);
      }
      list.push(seq);
    });
  }

  count(sender: number, stream: string): number {
    return this.bySender.get(`${sender}:${stream}`)?.length ?? 0;
  }

  get(sender: number, stream: string): number[] {
    return this.bySender.get(`${sender}:${stream}`) ?? [];
  }
}

/** Describes a sequence against 0..n-1: what is missing, duplicated or out of order. */
export function checkSequence(
  seqs: number[],
  n: number | null,
): { missing: number; duplicates: number; reordered: number } {
  const seen = new Set<number>();
  let duplicates = 0;
  let reordered = 0;
  let last = -1;
  for (const seq of seqs) {
    if (seen.has(seq)) duplicates++;
    else if (seq < last) reordered++;
    seen.add(seq);
    last = Math.max(last, seq);
  }
  const upTo = n ?? last + 1;
  let missing = 0;
  for (let i = 0; i < upTo; i++) if (!seen.has(i)) missing++;
  return { missing, duplicates, reordered };
}
