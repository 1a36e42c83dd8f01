// Group commit: callers add an item and wait until a write that contains it has finished; one
// write takes every item added meanwhile. A write starts at most every `everyMs` (the first after a
// quiet spell at once, so a single caller waits for nothing but its own write) and one at a time,
// so under load many callers share a statement and a transaction instead of one each. A batch may
// also answer each caller (R): a read grouped the same way (heartbeat-rows.ts).
export interface GroupCommitOptions<T, R = void> {
  /** writes (or reads) one batch: nothing, or one result per item in order; a rejection rejects every caller in it */
  write(items: T[]): Promise<R[] | void>;
  /** least time between the starts of two writes */
  everyMs: number;
  /** a batch this large is written without waiting out `everyMs` */
  maxBatch: number;
  now?: () => number;
}

interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class GroupCommit<T, R = void> {
  private queue: Waiting<T, R>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing = false;
  private lastStartMs = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly opts: GroupCommitOptions<T, R>) {
    this.now = opts.now ?? Date.now;
  }

  /** Resolves once the batch holding `item` is written (with its result); rejects with that write's error. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** How many items wait for a write (not counting the one running). */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.writing) return; // the running write schedules the next one when it ends
    const full = this.queue.length >= this.opts.maxBatch;
    if (this.timer && !full) return;
    if (this.timer) clearTimeout(this.timer);
    const wait = full ? 0 : Math.max(0, this.lastStartMs + this.opts.everyMs - this.now());
    this.timer = setTimeout(() => void this.flush(), wait);
  }

  private async flush(): Promise<void> {
    this.timer = null;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    if (batch.length === 0) return;
    this.writing = true;
    this.lastStartMs = this.now();
    try {
      const results = await this.opts.write(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results ? results[i]! : (undefined as R)));
    } catch (error) {
      for (const w of batch) w.reject(error);
    } finally {
      this.writing = false;
      if (this.queue.length) this.schedule();
    }
  }
}
