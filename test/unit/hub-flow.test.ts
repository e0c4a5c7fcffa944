// The hub's flow control (src/hub/flow.ts) with in-memory links: which sender is paused, when it
// is read again, and what never holds anyone back.
import t, { type Test } from "tap";
import { STALL_TIMEOUT } from "../../src/hub/flow";
import { Hub } from "../../src/hub/hub";
import { envelope, Kind } from "../../src/protocol/messages";
import { PAUSE_BYTES } from "../../src/transports/link";
import { MemoryLink } from "../helpers/memory-link";

/** A link with flow control, as a Unix socket has: bytes waiting, pause and resume, drain. */
class FlowLink extends MemoryLink {
  queuedBytes = 0;
  paused = false;
  pauses = 0;
  #drain: (() => void)[] = [];

  pauseReading(): void {
    this.paused = true;
    this.pauses++;
  }

  resumeReading(): void {
    this.paused = false;
  }

  onDrain(listener: () => void): void {
    this.#drain.push(listener);
  }

  /** The peer took everything. */
  drain(): void {
    this.queuedBytes = 0;
    for (const listener of this.#drain) listener();
  }
}

function setup(t: Test) {
  const hub = new Hub();
  t.teardown(() => hub.close());
  const server = <L extends MemoryLink>(l: L): L => {
    hub.addLink(l);
    l.inject(envelope({ k: Kind.HELLO, uid: l.name, role: "server" }));
    l.take();
    return l;
  };
  return { hub, server };
}

const publish = (d = '{"type":3}') => envelope({ k: Kind.PUBLISH, d });
const batch = () => envelope({ k: Kind.BATCH, b: ['{"type":3}', '{"type":3}'] });

t.test("a sender is paused while a destination holds PAUSE_BYTES, and read again once it drained", async (t) => {
  const { hub, server } = setup(t);
  const sender = server(new FlowLink("sender"));
  const full = server(new FlowLink("full"));
  const idle = server(new FlowLink("idle"));
  sender.inject(publish());
  t.notOk(sender.paused, "nobody is behind: the sender is read on");
  full.queuedBytes = PAUSE_BYTES;
  sender.inject(publish());
  t.ok(sender.paused, "paused once a destination holds PAUSE_BYTES");
  t.equal(full.take().length, 2, "the message that filled it was delivered");
  t.equal(idle.take().length, 2, "and to the other destination");
  sender.inject(batch());
  t.equal(sender.pauses, 1, "what was read already goes on; pausing again is not needed");
  t.equal(hub.stats().readsPaused, 1, "counted once");
  idle.drain();
  t.ok(sender.paused, "another destination draining changes nothing");
  full.drain();
  t.notOk(sender.paused, "read again once the full one took everything");
  sender.inject(publish());
  t.notOk(sender.paused);
});

t.test("a sender waits for every full destination; a response pauses its sender too", async (t) => {
  const { server } = setup(t);
  const sender = server(new FlowLink("sender"));
  const a = server(new FlowLink("a"));
  const b = server(new FlowLink("b"));
  a.queuedBytes = PAUSE_BYTES;
  b.queuedBytes = PAUSE_BYTES;
  sender.inject(publish());
  t.ok(sender.paused);
  a.drain();
  t.ok(sender.paused, "b is still full");
  b.drain();
  t.notOk(sender.paused, "both drained");
  a.queuedBytes = PAUSE_BYTES;
  sender.inject(envelope({ k: Kind.RESPONSE, to: "a", d: '{"type":8}' }));
  t.ok(sender.paused, "an answer to a full destination");
  a.drain();
  t.notOk(sender.paused);
});

t.test("a destination that takes nothing for STALL_TIMEOUT ms holds nobody back until it drains", async (t) => {
  const { server } = setup(t);
  const sender = server(new FlowLink("sender"));
  const stuck = server(new FlowLink("stuck"));
  stuck.queuedBytes = PAUSE_BYTES;
  const pausedAt = Date.now();
  sender.inject(publish());
  t.ok(sender.paused);
  while (sender.paused) await new Promise((resolve) => setTimeout(resolve, 5));
  t.ok(Date.now() - pausedAt >= STALL_TIMEOUT - 5, `read again after the stall timeout (${Date.now() - pausedAt} ms)`);
  sender.inject(publish());
  t.notOk(sender.paused, "a stalled destination pauses nobody");
  t.equal(sender.pauses, 1);
  stuck.drain();
  stuck.queuedBytes = PAUSE_BYTES;
  sender.inject(publish());
  t.ok(sender.paused, "once it drained, it counts again");
});

t.test("closing links and the hub releases every paused sender", async (t) => {
  const { hub, server } = setup(t);
  const a = server(new FlowLink("a"));
  const b = server(new FlowLink("b"));
  const full = server(new FlowLink("full"));
  const other = server(new FlowLink("other"));
  full.queuedBytes = PAUSE_BYTES;
  a.inject(publish());
  b.inject(publish());
  t.ok(a.paused && b.paused);
  a.close();
  full.close();
  t.notOk(b.paused, "the full destination left: its sender is read again");
  other.queuedBytes = PAUSE_BYTES;
  b.inject(publish());
  t.ok(b.paused);
  hub.close();
  t.notOk(b.paused, "the hub closed: nobody stays paused");
});

t.test("only links with flow control take part", async (t) => {
  const { server } = setup(t);
  const plain = server(new MemoryLink("plain"));
  const sender = server(new FlowLink("sender"));
  const full = server(new FlowLink("full"));
  full.queuedBytes = PAUSE_BYTES;
  plain.inject(publish());
  t.equal(full.take().length, 1, "a sender that cannot pause is read on (IPC): delivered");
  sender.inject(publish());
  t.ok(sender.paused, "a sender that can");
  full.drain();
  t.notOk(sender.paused);
});
