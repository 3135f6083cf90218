/** The Worker: the HTTP app, the push queue's consumer, and the Durable Object classes wrangler.toml binds. */
import { createApp } from "./http/app";
import type { PushJob } from "./push/job";
import { deliverPushes } from "./push/deliver";

export { ChatRoom } from "./room/chat-room";
export { InboxRoom } from "./inbox/inbox-room";
export { FanoutShard } from "./fanout/shard";

const app = createApp();

export default {
  fetch: app.fetch,
  // Push jobs the rooms enqueued (docs/ARCHITECTURE.md, "Push notifications").
  queue: (batch, env) => deliverPushes(batch, env),
} satisfies ExportedHandler<Env, PushJob>;
