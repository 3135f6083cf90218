/**
 * What a reconnecting socket missed (`since` / `changesSince` on the upgrade), from the log, sent in
 * the same turn as the accept: no live frame can slip in between. New messages come in their current
 * state; then each message the client had (id ≤ `since`) that changed after `changesSince`, once,
 * in the order of its last change, as the events that bring it to its current state.
 */
import { serverFrame as frame, ServerEvent } from "../protocol/events";
import { limits } from "../protocol/limits";
import { toIso, toReactions } from "../protocol/stored";
import { safeSend } from "../objects/sockets";
import type { MessageLog } from "./log/messages";
import type { LogMessageRow } from "./log/schema";

export function replay(ws: WebSocket, log: MessageLog, chatId: number, since: number | null, changesSince: number | null) {
  const newest = log.newestId();
  let lastId = since ?? newest;
  let hasMore = false;
  if (since !== null) {
    const page = log.page({ after: since, limit: limits.replayMax });
    for (const message of page.messages) safeSend(ws, frame(ServerEvent.ReceiveMessage, message));
    lastId = page.messages.at(-1)?.id ?? since;
    hasMore = page.hasMore;
  }
  let lastChangeId = log.lastChangeId();
  let hasMoreChanges = false;
  if (changesSince !== null) {
    const rows = log.changedRowsAfter(changesSince, since ?? newest, limits.changeReplayMax + 1);
    hasMoreChanges = rows.length > limits.changeReplayMax;
    const replayed = rows.slice(0, limits.changeReplayMax);
    for (const row of replayed) for (const f of currentStateFrames(row, chatId)) safeSend(ws, f);
    if (hasMoreChanges) lastChangeId = replayed.at(-1)!.changeId!;
  }
  safeSend(ws, frame(ServerEvent.ReplayDone, { chatId, lastId, hasMore, lastChangeId, hasMoreChanges }));
}

/** The change events that bring a client's copy of a changed message to its current state. */
function currentStateFrames(row: LogMessageRow, chatId: number): string[] {
  const base = { chatId, messageId: row.id, changeId: row.changeId ?? 0 };
  if (row.deletedAt !== null) return [frame(ServerEvent.MessageDeleted, { ...base, deletedAt: toIso(row.deletedAt) })];
  const frames = [frame(ServerEvent.ReactionsUpdated, { ...base, reactions: toReactions(row.reactions) })];
  if (row.editedAt !== null) frames.unshift(frame(ServerEvent.MessageEdited, { ...base, content: row.content, editedAt: toIso(row.editedAt) }));
  return frames;
}
