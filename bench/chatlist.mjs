// The `chatlist` scenario of `npm run bench` (issue 25): how long `GET /api/chats` takes for a user in
// `chats` chats with `messagesPerChat` messages each, `rounds` requests one after another, timed end to
// end; and, for comparison, the same user's list read from D1 as the route did before issue 25
// (GET /__bench/chats-from-d1, bench/bench-worker.js), through the same injected D1 latency
// (`--d1-delay`). The inbox's list reads no D1: it asks each chat's room, so the delay should not show.
import { performance } from "node:perf_hooks";
import { api, makeChats, makeUsers, percentiles } from "./client.mjs";

async function timed(url, path, token, rounds, expect) {
  const ms = [];
  let failures = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const res = await fetch(url + path, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json().catch(() => null);
    ms.push(performance.now() - t0);
    if (!res.ok || !expect(body)) failures++;
  }
  return { ms: percentiles(ms), failures };
}

export async function chatlist({ url }, { chats: N, messagesPerChat, rounds, d1Rounds }) {
  const http = api(url);
  const tag = Date.now().toString(36).slice(-5);
  const users = await makeUsers(http, `cl${tag}`, 3);
  const [owner] = users;
  const chatIds = await makeChats(http, users, N, "bench list");
  for (const chatId of chatIds) {
    for (let m = 0; m < messagesPerChat; m++) await http("POST", `/api/chats/${chatId}/messages`, { content: `message ${m} of ${chatId}` }, owner.token);
  }
  const whole = (body) => body?.chats?.length === N && body.chats.every((c) => c.lastMessage !== null);
  // Warm: the inbox and the rooms are loaded (their first read may touch D1); what is timed is a
  // list read of a user who has used the app.
  for (let i = 0; i < 5; i++) await fetch(`${url}/api/chats`, { headers: { authorization: `Bearer ${owner.token}` } });
  const inbox = await timed(url, "/api/chats", owner.token, rounds, whole);
  // D1's copy follows the rooms (about a second after a chat pauses): wait for it before timing.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${url}/__bench/chats-from-d1`, { headers: { authorization: `Bearer ${owner.token}` } });
    if (whole(await res.json().catch(() => null))) break;
    if (Date.now() > deadline) throw new Error("D1's copy of the chats did not catch up in 60 s");
    await new Promise((r) => setTimeout(r, 500));
  }
  const d1 = await timed(url, "/__bench/chats-from-d1", owner.token, d1Rounds, whole);
  return {
    chats: N,
    messages_per_chat: messagesPerChat,
    list_ms: inbox.ms,
    list_rounds: rounds,
    from_d1_ms: d1.ms,
    from_d1_rounds: d1Rounds,
    failures: inbox.failures + d1.failures,
  };
}
