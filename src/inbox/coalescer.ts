/**
 * Keeps only the latest value offered during a window and hands it on once per window, never
 * running two flushes at a time (so a later state can never overtake an earlier one).
 */
export class Coalescer<T> {
  private latest: T | undefined;
  private busy = false;

  constructor(
    /** The window, or a function of the moment each window opens (a room that became large paces itself more). */
    private readonly windowMs: number | (() => number),
    private readonly flush: (latest: T) => Promise<void>,
    private readonly schedule: (fn: () => void, ms: number) => unknown = setTimeout,
  ) {}

  offer(value: T): void {
    this.latest = value;
    if (this.busy) return;
    this.busy = true;
    this.schedule(() => void this.fire(), this.window());
  }

  private async fire(): Promise<void> {
    const value = this.latest as T;
    this.latest = undefined;
    try {
      await this.flush(value);
    } catch (err) {
      console.error("coalesced flush failed", err instanceof Error ? err.message : String(err));
    }
    if (this.latest === undefined) this.busy = false;
    else this.schedule(() => void this.fire(), this.window());
  }

  private window(): number {
    return typeof this.windowMs === "number" ? this.windowMs : this.windowMs();
  }
}
