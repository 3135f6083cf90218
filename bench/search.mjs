// The `search` scenario of `npm run bench`: GET /api/search over a large corpus. One user in 20
// chats; `messages` generated messages (100,000; 20,000 in quick) are written straight into D1 by
// the bench Worker (POST /__bench/seed-search: through a room's copy, PER_COPY of a chat's messages
// at a time, so they are indexed in search blocks of that size as a room's copies index them), then
// each kind of query runs `rounds` times, one at a time, timed end to end (HTTP, the Worker, the D1
// query, the snippets).
import { performance } from "node:perf_hooks";
import { api, makeChats, makeUsers, percentiles } from "./client.mjs";

/** 2,000 pronounceable made-up words, the same every run ("kalo", "mirute", …). */
function vocabulary() {
  const c = "bdfgklmnprstvz", v = "aeiou";
  const words = new Set();
  let state = 12345;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
  while (words.size < 2000) {
    let w = "";
    for (let s = 2 + Math.floor(random() * 2); s > 0; s--) w += c[Math.floor(random() * c.length)] + v[Math.floor(random() * v.length)];
    words.add(w);
  }
  return [...words];
}

/** A chat's messages per copy, so per search block: a burst between pauses (the cost bench's is 100). */
const PER_COPY = 25;

export async function search({ url }, { messages: N, rounds }) {
  const http = api(url);
  const tag = Date.now().toString(36).slice(-5);
  const [user] = await makeUsers(http, `s${tag}`, 1);
  const chatIds = await makeChats(http, [user], 20, "bench search");
  const words = vocabulary();
  const startTime = Date.now() - N; // one message a millisecond, the newest about now

  const seed0 = performance.now();
  const per = 5000;
  for (let from = 0; from < N; from += per) {
    await http("POST", "/__bench/seed-search", { chatIds, senderId: user.id, from, count: Math.min(per, N - from), seed: 7 + from, vocabulary: words, startTime, perCopy: PER_COPY });
  }
  const seedSeconds = (performance.now() - seed0) / 1000;

  // Words by how many messages have them: standup every 10th, the most common made-up word in most,
  // zeppelin every 10,000th; a prefix of a mid-frequency word; two words together.
  const queries = {
    common: "standup",
    very_common: words[0],
    rare: "zeppelin",
    prefix: words[40].slice(0, 3),
    two_words: `${words[1]} ${words[2]}`,
  };
  const latencies = {};
  const all = [];
  let failures = 0;
  const t0 = performance.now();
  for (const [kind, q] of Object.entries(queries)) {
    latencies[kind] = [];
    for (let i = 0; i < rounds; i++) {
      const s = performance.now();
      const page = await http("GET", `/api/search?${new URLSearchParams({ q })}`, null, user.token);
      const ms = performance.now() - s;
      latencies[kind].push(ms);
      all.push(ms);
      // Newest first, and the rare word exactly as often as it was planted.
      const times = page.results.map((r) => Date.parse(r.message.timestamp));
      if (times.some((t, j) => j > 0 && t > times[j - 1])) failures++;
      if (kind === "rare" ? page.results.length !== Math.ceil((N - 7) / 10_000) : page.results.length === 0) failures++;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  return {
    messages: N,
    chats: chatIds.length,
    messages_per_block: PER_COPY,
    seed_seconds: +seedSeconds.toFixed(1),
    queries: all.length,
    queries_per_s: Math.round(all.length / secs),
    page_ms: percentiles(all),
    by_query: Object.fromEntries(Object.entries(latencies).map(([kind, l]) => [kind, { q: queries[kind], ...percentiles(l) }])),
    failures,
  };
}
