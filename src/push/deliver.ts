/**
 * The queue consumer (the Worker's `queue()`): sends each job of a batch to its user's subscriptions.
 * One D1 query per batch reads the subscriptions (and each user's previews setting); each push is
 * encrypted to its subscription (RFC 8291 aes128gcm, @block65/webcrypto-web-push) and signed (VAPID,
 * ./vapid.ts). A push service's answer decides what follows (./retry.ts): gone subscriptions are
 * deleted at once; a job whose every target asked for a retry is retried as it is (the queue's
 * `retry`, which counts attempts and ends in the dead-letter queue); targets that failed beside ones
 * that were reached are split off as jobs of their own, so a retry never pushes a device twice.
 */
import { encryptNotification } from "@block65/webcrypto-web-push";
import { signingKeyFor } from "../auth/token";
import { database } from "../db/client";
import { withDeadline } from "../db/deadline";
import { deleteSubscriptions, recipientsOf, type Recipient } from "../db/push";
import { vapidKeys, type VapidKeys } from "./config";
import { PUSH_URGENCY, topicOf, ttlLeft, type PushJob } from "./job";
import { encodePayload, withoutPreview } from "./payload";
import { backoffSeconds, outcomeOf, retryDelay, type Outcome } from "./retry";
import { vapidAuthorization } from "./vapid";

/** A push service that has not answered in this long is treated as down (retried). */
const SEND_TIMEOUT_MS = 10_000;
/** Messages per `sendBatch` (Cloudflare Queues' limit). */
const SEND_BATCH_MAX = 100;

type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

/** Where a push goes: the origin only, for logs (an endpoint's path is the subscription's secret). */
const originOf = (endpoint: string) => new URL(endpoint).origin;

/** Sends one push to one subscription; never throws (a failure is an outcome). */
async function pushTo(target: Recipient, job: PushJob, keys: VapidKeys, topic: string, attempts: number, now: number, fetcher: Fetcher): Promise<Outcome> {
  try {
    const payload = encodePayload(target.previews ? job.payload : withoutPreview(job.payload));
    const body = await encryptNotification({ endpoint: target.endpoint, expirationTime: target.expiresAt, keys: { p256dh: target.p256dh, auth: target.auth } }, payload);
    const res = await fetcher(target.endpoint, {
      method: "POST",
      headers: {
        Authorization: await vapidAuthorization(keys, target.endpoint),
        TTL: String(ttlLeft(job.payload.sentAt, now)),
        Urgency: PUSH_URGENCY,
        Topic: topic,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
      },
      body,
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
    // The body is not needed; reading it frees the connection.
    await res.body?.cancel();
    const outcome = outcomeOf(res.status, res.headers.get("Retry-After"), attempts, now);
    if (outcome.kind === "failed") console.error(`push to ${originOf(target.endpoint)} refused with ${res.status}; not retried`);
    return outcome;
  } catch (err) {
    console.error(`push to ${originOf(target.endpoint)} failed; retrying`, err instanceof Error ? err.message : String(err));
    return outcomeOf(null, null, attempts, now);
  }
}

/** Handles one batch of push jobs. `fetcher` is the push services' transport (tests pass their own). */
export async function deliverPushes(batch: MessageBatch<PushJob>, env: Env, fetcher: Fetcher = (input, init) => fetch(input, init)): Promise<void> {
  const keys = vapidKeys(env);
  if (!keys) {
    // Rooms enqueue nothing without keys; jobs from before they were removed cannot be signed.
    console.error(`push is not configured (VAPID secrets); dropping ${batch.messages.length} jobs`);
    batch.ackAll();
    return;
  }
  const db = database(withDeadline(env.DB, Number(env.D1_TIMEOUT_MS)));
  let recipients: Recipient[];
  try {
    recipients = await recipientsOf(db, batch.messages.map((m) => m.body.userId));
  } catch (err) {
    console.error("push: subscriptions could not be read; retrying the batch", err instanceof Error ? err.message : String(err));
    for (const message of batch.messages) message.retry({ delaySeconds: backoffSeconds(message.attempts) });
    return;
  }
  const byUser = Map.groupBy(recipients, (r) => r.userId);
  const now = Date.now();
  const gone: string[] = [];
  const splitOff: MessageSendRequest<PushJob>[] = [];

  await Promise.all(
    batch.messages.map(async (message) => {
      const job = message.body;
      if (ttlLeft(job.payload.sentAt, now) === 0) return message.ack();
      const targets = (byUser.get(job.userId) ?? []).filter((t) => job.endpoint === undefined || t.endpoint === job.endpoint);
      // Subscriptions of a session that ended, or past their expiry, are not sent to, and go.
      const ended = targets.filter((t) => !t.current || (t.expiresAt !== null && t.expiresAt <= now));
      const live = targets.filter((t) => !ended.includes(t));
      gone.push(...ended.map((t) => t.endpoint));
      const topic = await topicOf(signingKeyFor(env.JWT_SECRET), job.userId, job.payload.chatId);
      const outcomes = await Promise.all(live.map((t) => pushTo(t, job, keys, topic, message.attempts, now, fetcher)));
      const retries: { endpoint: string; afterSeconds: number }[] = [];
      outcomes.forEach((outcome, i) => {
        if (outcome.kind === "gone") gone.push(live[i]!.endpoint);
        if (outcome.kind === "retry") retries.push({ endpoint: live[i]!.endpoint, afterSeconds: outcome.afterSeconds });
      });
      if (retries.length === 0) return message.ack();
      const delaySeconds = Math.min(Math.max(...retries.map((r) => r.afterSeconds)), ttlLeft(job.payload.sentAt, now));
      if (delaySeconds <= 0) return message.ack();
      if (retries.length === live.length) return message.retry({ delaySeconds });
      message.ack();
      for (const { endpoint, afterSeconds } of retries) splitOff.push({ body: { ...job, endpoint }, contentType: "json", delaySeconds: retryDelay(afterSeconds, 1) });
    }),
  );

  if (gone.length > 0) await deleteSubscriptions(db, gone).catch((err) => console.error("push: gone subscriptions not deleted (deleted at their next push)", err instanceof Error ? err.message : String(err)));
  const queue = env.PUSH_QUEUE as Queue<PushJob>;
  for (let i = 0; i < splitOff.length; i += SEND_BATCH_MAX) {
    await queue.sendBatch(splitOff.slice(i, i + SEND_BATCH_MAX)).catch((err) => console.error("push: retries could not be enqueued; those pushes are lost", err instanceof Error ? err.message : String(err)));
  }
}
