/**
 * How the timeline reads: a day separator where the day changes, and consecutive messages from one
 * sender grouped under one name (within a few minutes of each other, on the same day). Pure, so the
 * chat view can decide for any message from its neighbour alone, wherever it was inserted.
 */
export interface TimelineEntry {
  senderId: number;
  /** When it was sent; still sending: when it was typed. */
  at: Date;
}

/** A pause this long starts a new group, even from the same sender. */
export const GROUP_GAP_MS = 5 * 60_000;

/** The local calendar day, as a key. */
export const dayKey = (at: Date) => `${at.getFullYear()}-${at.getMonth() + 1}-${at.getDate()}`;

/** "Today", "Yesterday", or the date ("Monday, 23 November 2026"). */
export function dayLabel(at: Date, now = new Date(), locale?: string): string {
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (dayKey(at) === dayKey(now)) return "Today";
  if (dayKey(at) === dayKey(yesterday)) return "Yesterday";
  return at.toLocaleDateString(locale, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

/** What comes before `entry` given the entry shown just above it (null: it is the first). */
export function joinTo(previous: TimelineEntry | null, entry: TimelineEntry): { newDay: boolean; grouped: boolean } {
  const newDay = !previous || dayKey(previous.at) !== dayKey(entry.at);
  const grouped = !newDay && previous.senderId === entry.senderId && Math.abs(entry.at.getTime() - previous.at.getTime()) < GROUP_GAP_MS;
  return { newDay, grouped };
}

