/**
 * Connection state recovery, kept where every broadcast passes: the hub. It logs the broadcasts
 * that carry an offset and keeps the sessions of disconnected clients, so that a client that
 * reconnects to ANY worker gets its session and every packet it missed, in hub order.
 *
 * Bounded: entries and sessions older than the namespace's maxDisconnectionDuration are dropped,
 * and the log keeps at most `maxEntries` entries and `maxBytes` payload characters (oldest first).
 */

/** Socket.IO's default maxDisconnectionDuration, used until a namespace says otherwise. */
export const DEFAULT_RETENTION = 120_000;
export const DEFAULT_MAX_LOG_ENTRIES = 10_000;
export const DEFAULT_MAX_LOG_BYTES = 32 * 1024 * 1024;
const SWEEP_INTERVAL = 10_000;

interface Entry {
  seq: number;
  offset: string;
  nsp: string;
  payload: string;
  expires: number;
}

export interface RecoveryStats {
  /** Sessions of disconnected clients kept for recovery. */
  recoverySessions: number;
  /** Broadcasts in the replay log. */
  recoveryLogEntries: number;
  /** Payload characters in the replay log. */
  recoveryLogBytes: number;
  /** Entries dropped from the log before their time because of the caps. */
  recoveryLogEvicted: number;
}

export interface RecoveryLimits {
  maxEntries: number;
  maxBytes: number;
}

export class RecoveryLog {
  #entries: Entry[] = [];
  #head = 0;
  #seq = 0;
  #bytes = 0;
  #evicted = 0;
  #offsets = new Map<string, number>();
  #sessions = new Map<string, { payload: string; expires: number }>();
  #retention = new Map<string, number>();
  #limits: RecoveryLimits;
  #timer: NodeJS.Timeout;

  constructor(limits: RecoveryLimits = { maxEntries: DEFAULT_MAX_LOG_ENTRIES, maxBytes: DEFAULT_MAX_LOG_BYTES }) {
    this.#limits = limits;
    this.#timer = setInterval(() => this.#sweep(Date.now()), SWEEP_INTERVAL).unref();
  }

  /** A namespace has recovery on, with this maxDisconnectionDuration. */
  setRetention(nsp: string, ms: number): void {
    this.#retention.set(nsp, Math.max(ms, this.#retention.get(nsp) ?? 0));
  }

  append(offset: string, nsp: string, payload: string): void {
    const now = Date.now();
    const entry = { seq: ++this.#seq, offset, nsp, payload, expires: now + this.#retentionOf(nsp) };
    this.#entries.push(entry);
    this.#offsets.set(offset, entry.seq);
    this.#bytes += payload.length;
    while (this.size > this.#limits.maxEntries || this.#bytes > this.#limits.maxBytes) {
      this.#shift();
      this.#evicted++;
    }
  }

  save(nsp: string, pid: string, payload: string): void {
    this.#sessions.set(`${nsp}\0${pid}`, { payload, expires: Date.now() + this.#retentionOf(nsp) });
  }

  /**
   * The session and the namespace's logged payloads after `offset`; null when the session is
   * unknown or expired, or the offset is no longer (or never was) in the log. A session is
   * restored once.
   */
  restore(nsp: string, pid: string, offset: string): { session: string; log: string[] } | null {
    const now = Date.now();
    this.#sweep(now);
    const key = `${nsp}\0${pid}`;
    const session = this.#sessions.get(key);
    if (!session) return null;
    this.#sessions.delete(key);
    const seq = this.#offsets.get(offset);
    if (seq === undefined) return null;
    const log: string[] = [];
    for (let i = this.#head + (seq - this.#entries[this.#head].seq) + 1; i < this.#entries.length; i++) {
      const entry = this.#entries[i];
      if (entry.nsp === nsp) log.push(entry.payload);
    }
    return { session: session.payload, log };
  }

  get size(): number {
    return this.#entries.length - this.#head;
  }

  stats(): RecoveryStats {
    return {
      recoverySessions: this.#sessions.size,
      recoveryLogEntries: this.size,
      recoveryLogBytes: this.#bytes,
      recoveryLogEvicted: this.#evicted,
    };
  }

  close(): void {
    clearInterval(this.#timer);
    this.#entries = [];
    this.#head = 0;
    this.#offsets.clear();
    this.#sessions.clear();
    this.#bytes = 0;
  }

  #retentionOf(nsp: string): number {
    return this.#retention.get(nsp) ?? DEFAULT_RETENTION;
  }

  #shift(): void {
    const entry = this.#entries[this.#head++];
    this.#offsets.delete(entry.offset);
    this.#bytes -= entry.payload.length;
    // Compact once the dead prefix is large: amortised O(1) per entry.
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #sweep(now: number): void {
    // Entries are appended in time order, but namespaces may have different retentions: stop at
    // the first live entry (a shorter-lived entry behind it waits for the next sweep or the caps).
    while (this.size > 0 && this.#entries[this.#head].expires < now) this.#shift();
    for (const [key, session] of this.#sessions) if (session.expires < now) this.#sessions.delete(key);
  }
}
