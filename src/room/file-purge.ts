/**
 * Deleting a chat's files from R2: those of deleted messages and the uploads never attached in time.
 * Rows go only after R2 confirmed, so a failure loses nothing: the alarm tries again after a
 * backoff. Meanwhile those files are refused to downloads and sends (`Uploads.live`).
 */
import { nextRetry } from "./copy-schedule";
import { PURGE_BATCH, type Uploads } from "./log/uploads";

export class FilePurge {
  /** When the alarm next deletes files; null: none waits. */
  at: number | null;
  private failures = 0;

  /** `scheduleAlarm` is called when `at` moved earlier: the room's alarm must fire by then. */
  constructor(
    private readonly uploads: Uploads,
    private readonly bucket: () => R2Bucket,
    private readonly scheduleAlarm: () => void,
  ) {
    this.at = uploads.nextDeadline(Date.now());
  }

  /** The alarm deletes files at `at` (or earlier, if it already would). */
  dueAt(at: number) {
    if (this.at !== null && this.at <= at) return;
    this.at = at;
    this.scheduleAlarm();
  }

  /** The alarm's part: deletes what is due, if anything is. */
  async onAlarm(): Promise<void> {
    if (this.at !== null && this.at <= Date.now()) await this.run();
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        const ids = this.uploads.due(Date.now());
        if (ids.length > 0) {
          await this.bucket().delete(ids);
          this.uploads.forget(ids);
        }
        if (ids.length < PURGE_BATCH) break;
      }
      this.failures = 0;
      this.at = this.uploads.nextDeadline(Date.now());
    } catch (err) {
      ({ failures: this.failures, at: this.at } = nextRetry(this.failures, Date.now()));
      console.error(`deleting files from R2 failed (${this.failures} in a row); retrying`, err instanceof Error ? err.message : String(err));
    }
  }
}
