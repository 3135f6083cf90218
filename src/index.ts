/** The Worker: the HTTP app, and the Durable Object classes wrangler.toml binds. */
import { createApp } from "./http/app";

export { ChatRoom } from "./room/chat-room";
export { InboxRoom } from "./inbox/inbox-room";

export default createApp() satisfies ExportedHandler<Env>;
