/**
 * Whom the signed-in user blocks: read once after sign-in, changed from a group's members panel or
 * a direct chat's header. Views listen, to collapse (or show again) the messages of a blocked user.
 */
import type { ApiClient } from "../client/api";

export class BlockList {
  private readonly ids = new Set<number>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly api: ApiClient) {}

  async load(): Promise<void> {
    const users = await this.api.blockedUsers();
    this.ids.clear();
    for (const u of users) this.ids.add(u.id);
    this.changed();
  }

  has(userId: number): boolean {
    return this.ids.has(userId);
  }

  /** Blocks or unblocks on the server, then here. */
  async set(userId: number, blocked: boolean): Promise<void> {
    await (blocked ? this.api.blockUser(userId) : this.api.unblockUser(userId));
    if (blocked) this.ids.add(userId);
    else this.ids.delete(userId);
    this.changed();
  }

  /** Calls `listener` after every change; returns how to stop. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
