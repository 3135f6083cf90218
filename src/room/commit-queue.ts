/**
 * Group commit: items are written in arrival order, at most one write in flight. Whatever arrives
 * while a write is in flight shares the next one, so a busy room makes few large writes and an
 * idle room writes each item at once.
 */
export class CommitQueue<T> {
  private pending: T[] = [];
  private writing = false;

  /** `write` must settle every item itself (ack or error); a throw is its bug, not the queue's. */
  constructor(
    private readonly write: (batch: T[]) => Promise<void>,
    private readonly maxBatch: number,
  ) {}

  push(item: T): void {
    this.pending.push(item);
    if (!this.writing) void this.drain();
  }

  /** Items waiting for a write to start. */
  get waiting(): number {
    return this.pending.length;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.pending.length > 0) {
        await this.write(this.pending.splice(0, this.maxBatch));
      }
    } finally {
      this.writing = false;
    }
  }
}
