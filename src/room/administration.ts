/**
 * Group administration, decided by the chat's room against its member list of record, in the
 * order requests reach it: adding, removing (or leaving), changing a role, renaming. A request that
 * arrives after a later change is judged by the state that change left (a role change for a member
 * removed since is `404`, never a way back in). A group's settings (slow mode, retention) change
 * here too, with its name. Each change takes the next number of the room's
 * membership counter; D1's copy follows by those numbers.
 */
import { ErrorCode } from "../protocol/errors";
import { serverFrame, ServerEvent } from "../protocol/events";
import type { Member, Role, User } from "../protocol/models";
import { refuse, type Answer } from "../objects/answers";
import { readChat, updateChat, type ChatSettings } from "./log/chat";
import type { RoomMembers } from "./log/members";
import { nextMembershipVersion, type LogDatabase } from "./log/open";

export type Administration =
  /**
   * `user` null: no such user (answered after the caller's own checks, as the contract orders them).
   * `blocked`: the user blocks the caller (D1, read by the Worker), answered `403 blocked` after those.
   */
  | { kind: "add"; userId: number; user: User | null; blocked?: boolean }
  | { kind: "role"; userId: number; role: Role }
  | { kind: "remove"; userId: number }
  /** The name and settings given (at least one). */
  | ({ kind: "update" } & Partial<ChatSettings>);

/** What a change did, for the room to announce. `changed` false: it asked for what already was. */
export type Administered =
  /** `version`: the membership version of the join or leave, for the user's inbox (inbox/chat-list.ts). */
  | { kind: "add"; member: Member; version: number }
  | { kind: "role"; member: Member; changed: boolean }
  | { kind: "remove"; removed: User; promoted: Member | null; version: number }
  | { kind: "update"; chat: ChatSettings & { name: string }; changed: boolean };

const asMember = (row: { userId: number; username: string; role: Role }): Member => ({ id: row.userId, username: row.username, role: row.role });

/**
 * Checks and applies one change for `actor` (already known to be an active member). The checks
 * come in the contract's order: a direct chat `400`, a member who is not an admin `403` (leaving is
 * anyone's), then the target's own (`404`, `409`, the last admin's `400`).
 */
export function administer(store: LogDatabase, members: RoomMembers, actor: User, change: Administration, now: number): Answer<{ done: Administered }> {
  if (readChat(store)?.type !== "group") return refuse(ErrorCode.BadRequest, "direct chats cannot be administered");
  const selfService = change.kind === "remove" && change.userId === actor.id;
  if (!selfService && members.activeRow(actor.id)?.role !== "admin") return refuse(ErrorCode.Forbidden, "only a group admin can do this");
  const nextVersion = () => nextMembershipVersion(store);
  switch (change.kind) {
    case "update": {
      const { kind: _, ...given } = change;
      // Left out (or undefined, as RPC may carry it): unchanged.
      const asked = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ChatSettings>;
      const now = readChat(store)!;
      const was: ChatSettings = { name: now.name, slowModeSeconds: now.slowModeSeconds, retentionSeconds: now.retentionSeconds };
      const settings = { ...was, ...asked };
      const changed = (Object.keys(was) as (keyof ChatSettings)[]).some((k) => settings[k] !== was[k]);
      if (changed) updateChat(store, settings, nextVersion());
      return { ok: true, done: { kind: "update", chat: { ...settings, name: settings.name ?? "" }, changed } };
    }
    case "add": {
      if (!change.user) return refuse(ErrorCode.NotFound, `user ${change.userId} not found`);
      if (members.activeRow(change.user.id)) return refuse(ErrorCode.Conflict, "already a member");
      if (change.blocked) return refuse(ErrorCode.Blocked, `${change.user.username} does not accept being added by you`);
      const version = nextVersion();
      members.join(change.user, now, version);
      return { ok: true, done: { kind: "add", member: { ...change.user, role: "member" }, version } };
    }
    case "role": {
      const target = members.activeRow(change.userId);
      if (!target) return refuse(ErrorCode.NotFound, "not a member of this chat");
      if (target.role === change.role) return { ok: true, done: { kind: "role", member: asMember(target), changed: false } };
      if (target.role === "admin" && members.activeAdmins() <= 1) return refuse(ErrorCode.BadRequest, "a group needs at least one admin");
      members.setRole(target.userId, change.role, nextVersion());
      return { ok: true, done: { kind: "role", member: { ...asMember(target), role: change.role }, changed: true } };
    }
    case "remove": {
      const target = members.activeRow(change.userId);
      if (!target) return refuse(ErrorCode.NotFound, "not a member of this chat");
      const removed = { id: target.userId, username: target.username };
      const version = nextVersion();
      members.leave(removed, version);
      // A group always has an admin while it has members: the longest-standing one inherits.
      let promoted: Member | null = null;
      const heir = target.role === "admin" && members.activeAdmins() === 0 ? members.longestStanding() : undefined;
      if (heir) {
        members.setRole(heir.userId, "admin", nextVersion());
        promoted = { ...asMember(heir), role: "admin" };
      }
      return { ok: true, done: { kind: "remove", removed, promoted, version } };
    }
  }
}

/** The events a change announces to the chat's sockets, in order; none for one that changed nothing. */
export function announcements(chatId: number, done: Administered): string[] {
  const memberFrame = (event: typeof ServerEvent.MemberAdded | typeof ServerEvent.MemberUpdated, { role, ...user }: Member) => serverFrame(event, { chatId, user, role });
  switch (done.kind) {
    case "update":
      return done.changed ? [serverFrame(ServerEvent.ChatUpdated, { chatId, ...done.chat })] : [];
    case "add":
      return [memberFrame(ServerEvent.MemberAdded, done.member)];
    case "role":
      return done.changed ? [memberFrame(ServerEvent.MemberUpdated, done.member)] : [];
    case "remove":
      return [serverFrame(ServerEvent.MemberRemoved, { chatId, user: done.removed }), ...(done.promoted ? [memberFrame(ServerEvent.MemberUpdated, done.promoted)] : [])];
  }
}
