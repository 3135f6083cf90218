/**
 * Read receipts, coalesced per chat. In a chat whose members all have it open, every member's
 * marker moves with every message; sent one by one to every socket, receipts grow with the square
 * of the readers and drown the messages (docs/PERFORMANCE.md, "Read receipts"). So the markers that
 * move within a window are kept (the newest per member) and each socket gets them once, at the
 * window's end: one `reads_updated` frame, or for a socket that did not ask for it
 * (`receipts=batched`), one `read_updated` per member whose marker moved.
 */
import { serverFrame, ServerEvent, type ReadMarker } from "../protocol/events";
import { limits } from "../protocol/limits";

/** What a window's receipts look like on the wire, serialised once for every socket. */
export interface ReceiptFrames {
  batched: string;
  oneByOne: string[];
}

export class ReadReceipts {
  private readonly moved = new Map<number, ReadMarker>();
  private due = false;

  constructor(
    private readonly chatId: number,
    private readonly send: (frames: ReceiptFrames) => void,
    /** Replaced by tests to hold the window open. */
    public schedule: (fn: () => void, ms: number) => unknown = setTimeout,
  ) {}

  /** A member's marker moved; it reaches the sockets at the end of the current window. */
  move(marker: ReadMarker): void {
    this.moved.set(marker.user.id, marker);
    if (this.due) return;
    this.due = true;
    this.schedule(() => this.flush(), limits.readReceiptWindowMs);
  }

  /** A member who left: their pending receipt is not announced. */
  forget(userId: number): void {
    this.moved.delete(userId);
  }

  private flush(): void {
    this.due = false;
    if (this.moved.size === 0) return;
    const reads = [...this.moved.values()];
    this.moved.clear();
    this.send({
      batched: serverFrame(ServerEvent.ReadsUpdated, { chatId: this.chatId, reads }),
      oneByOne: reads.map((read) => serverFrame(ServerEvent.ReadUpdated, { chatId: this.chatId, ...read })),
    });
  }
}
