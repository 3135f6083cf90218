import type { User } from "../protocol/models";

/** Set by the Worker after it verified the token; a client's own copy of it is overwritten. */
export const ROOM_USER_HEADER = "X-Edge-Chat-User";

/** What each socket carries through hibernation. */
export interface SocketAttachment {
  user: User;
  chatId: number;
}
