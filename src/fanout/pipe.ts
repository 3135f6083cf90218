/**
 * Items sent to another object one call at a time, in the order they were pushed. What is pushed
 * while a call is out goes with the next call, so a burst costs one call rather than one per item,
 * and a later call never overtakes an earlier one. Used both ways between a room and its shards.
 */
export class Pipe<T> {
  private queue: T[] = [];
  private running = false;
  /** A call is due even with nothing queued (a retry, or `kick`). */
  private due = false;
  private waiters: (() => void)[] = [];

  /**
   * `failed` gets the items of a call that threw; it may push some back, and answers how long to
   * wait before the next call (made even if nothing is queued), or null to stop until something new
   * is pushed. A call carries at most `perCall` items (a call's size is bounded).
   */
  constructor(
    private readonly send: (items: T[]) => Promise<void>,
    private readonly failed: (items: T[], error: unknown) => number | null,
    private readonly perCall = Infinity,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    this.start();
  }

  /** Makes a call even if nothing is queued. */
  kick(): void {
    this.due = true;
    this.start();
  }

  /** Whether items are waiting or a call is out. */
  get busy(): boolean {
    return this.running;
  }

  /** Resolves once everything pushed so far was sent, or given up on. */
  idle(): Promise<void> {
    return this.running ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    // After the current turn: everything it pushes goes in one call.
    queueMicrotask(() => void this.run());
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0 || this.due) {
      const items = this.queue.splice(0, this.perCall);
      this.due = false;
      try {
        await this.send(items);
      } catch (err) {
        const wait = this.failed(items, err);
        if (wait === null) break;
        this.due = true;
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    this.running = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
