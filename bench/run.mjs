#!/usr/bin/env node
// `npm run bench [-- --help] [-- quick] [-- serve [--plain]] [-- scenario ...] [-- --d1-delay 150] [-- --shard-sockets 100] [-- --url http://...] [-- --keep] [-- --keep-inspector] [-- --disk] [-- --profile] [-- --via-proxy] [-- --ws-query frames=batched]`
// Starts the service on fresh local state (unless --url), runs the scenarios one after another,
// prints a table and workerd's memory before and after, writes JSON to bench-results/.
// Exit 1 if any scenario lost, duplicated or failed anything.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { chatlist } from "./chatlist.mjs";
import { cost } from "./cost.mjs";
import { connect, history, idle, messaging } from "./scenarios.mjs";
import { cpuSeconds, rssMb, startService } from "./server.mjs";
import { profileWorker } from "./profile.mjs";
import { search } from "./search.mjs";
import { shards } from "./shards.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    port: { type: "string", default: "8860" },
    "d1-delay": { type: "string", default: "0" },
    keep: { type: "boolean", default: false },
    "via-proxy": { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    // Leave wrangler's devtools session on the runtime open (bench/server.mjs closeDevtoolsSession).
    "keep-inspector": { type: "boolean", default: false },
    // Keep the service's state (objects' SQLite, local D1) on disk instead of in memory (bench/server.mjs stateRoot).
    disk: { type: "boolean", default: false },
    // FANOUT_SHARD_SOCKETS for the service: sockets a room holds before it places new ones on fan-out shards.
    "shard-sockets": { type: "string" },
    // `serve` only: run src/index.ts as it deploys, without bench/bench-worker.js's instruments (their
    // counting runs on the rooms' thread: 3 % of the write scenario). For comparisons with compare.sh,
    // which reads no counter.
    plain: { type: "boolean", default: false },
    // A query added to every chat socket URL of the messaging scenarios, as the shared load tool's
    // `--ws-query` (e.g. `frames=batched`).
    "ws-query": { type: "string", default: "" },
    help: { type: "boolean", short: "h", default: false },
  },
});
const quick = positionals.includes("quick");
const k = quick ? 5 : 1;
const S = (n) => Math.max(1, Math.round(n / k));

/** name -> [runner, params]; the same shapes as the shared bench folder's compare.sh. */
const SCENARIOS = {
  write: [messaging, { rooms: 1, clients: 2, senders: 1, messages: S(20000), window: 100 }],
  fanout: [messaging, { rooms: 1, clients: 100, senders: 1, messages: S(5000), window: 50 }],
  fanout4: [messaging, { rooms: 1, clients: 100, senders: 4, messages: S(2000), window: 50 }],
  rooms: [messaging, { rooms: 50, clients: 10, senders: 1, messages: S(200), window: 20 }],
  big: [messaging, { rooms: 1, clients: 1000, senders: 1, messages: S(500), window: 20 }],
  connect: [connect, { connections: S(2000), concurrency: 50 }],
  idle: [idle, { rooms: quick ? 20 : 100, clients: 50, hold: quick ? 15 : 30 }],
  history: [history, { messages: S(10000), readers: 4, limit: 100 }],
  inbox: [inbox, {}],
  cost: [cost, { messages: quick ? 60 : 100 }],
  search: [search, { messages: quick ? 20_000 : 100_000, rounds: quick ? 20 : 50 }],
  chatlist: [chatlist, { chats: 20, messagesPerChat: 3, rounds: S(200), d1Rounds: S(50) }],
  shards: [shards, { rooms: 1, clients: quick ? 200 : 1000, senders: 1, messages: S(500), window: 20 }],
};
if (opt.help) {
  // The usage is this file's opening comment.
  const lines = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1);
  const usage = lines.slice(0, lines.findIndex((l) => !l.startsWith("//")));
  console.log(`${usage.map((l) => l.replace(/^\/\/ ?/, "")).join("\n")}\n\nscenarios: ${Object.keys(SCENARIOS).join(", ")}`);
  process.exit(0);
}
const wanted = positionals.filter((p) => p !== "quick" && p !== "serve");
for (const w of wanted) if (!SCENARIOS[w]) throw new Error(`unknown scenario ${w}; known: ${Object.keys(SCENARIOS).join(", ")}`);
// `big` (1 chat × 1,000 sockets, as compare.sh's) registers 1,000 users: run it when named.
const names = wanted.length ? wanted : Object.keys(SCENARIOS).filter((n) => n !== "big");
const wsQuery = Object.fromEntries(new URLSearchParams(opt["ws-query"]));

/** The inbox scenario lives in bench/inbox.mjs (its own script, `npm run bench:inbox`); run it if present. */
async function inbox({ url }) {
  const script = join(root, "bench", "inbox.mjs");
  if (!existsSync(script)) return { skipped: "bench/inbox.mjs not present" };
  const res = spawnSync(process.execPath, [script, "--url", url, ...(quick ? ["quick"] : [])], { encoding: "utf8", timeout: 600_000 });
  process.stderr.write(res.stderr ?? "");
  const last = (res.stdout ?? "").trim().split("\n").at(-1);
  let parsed;
  try {
    parsed = JSON.parse(last);
  } catch {
    parsed = { output: last };
  }
  return { ...parsed, ...(res.status !== 0 ? { error: `bench/inbox.mjs exited ${res.status}` } : {}) };
}

/** wrangler's bundle of the Worker the service runs, if it can be found. */
function bundleOf(service) {
  const tmp = join(service.sourceDir, ".wrangler", "tmp");
  if (!existsSync(tmp)) return null;
  const found = readdirSync(tmp).map((d) => join(tmp, d, "bench-worker.js")).filter((f) => existsSync(f));
  return found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0] ?? null;
}

const delay = Number(opt["d1-delay"]);
if (opt.plain && (!positionals.includes("serve") || delay)) {
  throw new Error("--plain is for `serve` only, without --d1-delay: the scenarios read the instruments' counters, and the delay is one of them");
}
let service = null;
let url = opt.url;
if (!url) {
  console.error(`starting the service on port ${opt.port}${delay ? ` with ${delay} ms injected D1 latency` : ""} ...`);
  service = await startService({
    port: Number(opt.port),
    entry: opt.plain ? undefined : "bench/bench-worker.js",
    // The profiler's own devtools session made wrangler restart a runtime whose session was closed.
    keepInspector: opt["keep-inspector"] || opt.profile,
    disk: opt.disk,
    vars: { ...(delay ? { D1_DELAY_MS: delay } : {}), ...(opt["shard-sockets"] ? { FANOUT_SHARD_SOCKETS: opt["shard-sockets"] } : {}) },
  });
  url = opt["via-proxy"] ? service.proxyUrl : service.url;
  console.error(`service: ${url} (runtime workerd pid ${service.workerdPid()}, wrangler dev proxy ${service.proxyUrl} pid ${service.proxyPid}; wrangler's devtools session: ${service.devtoolsSession}; state: ${service.state})`);
}
const stop = async () => service && !opt.keep && (await service.stop());
process.on("uncaughtException", (e) => (console.error(e), stop().then(() => process.exit(1))));
process.on("unhandledRejection", (e) => (console.error(e), stop().then(() => process.exit(1))));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => stop().then(() => process.exit(130)));
// `serve`: just run the bench-configured service (for the shared bench folder's compare.sh) until interrupted.
if (positionals.includes("serve")) {
  console.log(`serving ${url} (runtime workerd pid ${service?.workerdPid()}, inspector ${service?.inspectorPort}); Ctrl-C stops it`);
  await new Promise(() => {});
}

// workerd's inspector answers an isolate only once that isolate has run something: touch the
// Worker and local D1 before attaching the profilers.
if (opt.profile) {
  const { api, makeUsers, makeChats } = await import("./client.mjs");
  const http = api(url);
  await makeChats(http, await makeUsers(http, `warm${Date.now() % 100000}`, 2), 1, "warm-up");
  // The first inspector session on the Worker isolate was never answered in these runs (the next
  // ones were): spend it here, nudging the isolate with requests, so the scenarios' profiles work.
  if (service) {
    const warm = await profileWorker(service.inspectorPort, "core:user:").catch(() => null);
    const poke = setInterval(() => fetch(`${url}/api/me`).catch(() => {}), 100);
    await Promise.race([warm?.ready, new Promise((r) => setTimeout(r, 5000))]);
    clearInterval(poke);
    warm?.abandon();
  }
}
const memory = () => ({ workerd_rss_mb: rssMb(service?.workerdPid()), proxy_workerd_rss_mb: rssMb(service?.proxyPid) });
const report = { started: new Date().toISOString(), quick, d1_delay_ms: delay, shard_sockets: opt["shard-sockets"] ?? "wrangler.toml", url, devtools_session: service?.devtoolsSession ?? "n/a (--url)", state: service?.state ?? "n/a (--url)", memory_before: memory(), results: {} };
console.error(`workerd RSS before: ${report.memory_before.workerd_rss_mb} MB`);
let failed = false;
for (const name of names) {
  const [fn, params] = SCENARIOS[name];
  console.error(`> ${name} ${JSON.stringify(params)}`);
  let result;
  const pid = service?.workerdPid();
  const cpu0 = cpuSeconds(pid), proxyCpu0 = cpuSeconds(service?.proxyPid), wall0 = performance.now();
  // A scenario that calls `timed.start()` / `timed.stop()` (messaging does, around its timed part)
  // is profiled over just that part; any other over its whole run, setup included.
  let profilers = null, profile = null;
  const timed = {
    async start() {
      if (!opt.profile || !service || profilers) return;
      profilers = {};
      for (const [isolate, target] of [["worker", "core:user:"], ["d1", "d1:db"]]) {
        profilers[isolate] = await profileWorker(service.inspectorPort, target).catch((e) => ({ stop: async () => ({ error: e.message }) }));
      }
    },
    async stop() {
      if (!profilers || profile) return;
      profile = {};
      // The inspector answers only while the isolate runs something: keep it busy with a cheap request.
      const poke = setInterval(() => fetch(`${url}/api/me`).catch(() => {}), 100);
      for (const [isolate, p] of Object.entries(profilers)) profile[isolate] = await p.stop(join(root, "bench-results", `profile-${name}-${isolate}-${Date.now()}.cpuprofile`));
      clearInterval(poke);
      // The bundle the profile's line numbers refer to.
      const bundle = bundleOf(service);
      if (bundle) copyFileSync(bundle, join(root, "bench-results", `profile-${name}-bundle.js`));
    },
  };
  const scenarioTimed = fn === messaging ? timed : null;
  if (!scenarioTimed) await timed.start();
  try {
    result = await fn({ url, service, wsQuery, timed: scenarioTimed }, params);
  } catch (e) {
    result = { error: e.message };
  }
  await timed.stop();
  if (profile) result.profile = profile;
  // Share of one core workerd used over the scenario (setup included): near 100% means the
  // single-threaded isolate that runs the Worker and every room is the bottleneck.
  if (pid) result.workerd_cpu_pct = Math.round(((cpuSeconds(pid) - cpu0) / ((performance.now() - wall0) / 1000)) * 100);
  if (service?.proxyPid) result.proxy_cpu_pct = Math.round(((cpuSeconds(service.proxyPid) - proxyCpu0) / ((performance.now() - wall0) / 1000)) * 100);
  const bad = result.error || result.lost > 0 || result.duplicates > 0 || result.failures > 0 || result.d1?.caught_up === false;
  failed ||= Boolean(bad);
  report.results[name] = { params, ...result, ...memory(), ok: !bad };
  console.error(`  ${bad ? "FAIL" : "ok"} ${JSON.stringify(result)}`);
}
report.memory_after = memory();
if (failed && service) report.service_log_tail = service.output.slice(-30);
if (failed && service) console.error(`service log (last lines):\n${report.service_log_tail.join("\n")}`);
report.finished = new Date().toISOString();
await stop();

const rows = [["scenario", "rate", "p50 ms", "p99 ms", "lost", "dup", "notes"]];
for (const [name, r] of Object.entries(report.results)) {
  const lat = r.ack_ms && r.params.clients === 2 ? r.ack_ms : r.delivery_ms ?? r.connect_ms ?? r.page_ms ?? r.wake_delivery_ms ?? r.withInboxes ?? r.list_ms ?? {};
  const rate =
    r.error ? "ERROR" :
    r.skipped ? "skipped" :
    name === "write" || name === "rooms" ? `${r.accepted_per_s} msg/s` :
    r.deliveries_per_s != null ? `${r.deliveries_per_s} deliv/s` :
    r.connects_per_s != null ? `${r.connects_per_s} conn/s` :
    r.queries_per_s != null ? `${r.queries_per_s} queries/s over ${r.messages} messages` :
    r.pages_per_s != null ? `${r.pages_per_s} pages/s (${r.messages_per_s} msg/s)` :
    r.rss_kb_per_socket != null ? `${r.rss_kb_per_socket} KB/socket` :
    r.list_ms ? `${r.list_rounds} lists of ${r.chats} chats` :
    r.inboxEvents ? `${r.inboxEvents.perMessage} events/msg` :
    r.rows ? r.rows.map((row) => `${row.case}: $${row.usd_per_million_messages}/M${row.pushes ? ` (pushes: ${row.pushes.per_message}/msg, $${row.pushes.usd_per_million_pushes}/M pushes)` : ""}`).join("; ") : "-";
  const notes =
    r.error ?? r.skipped ??
    (name === "idle"
      ? `${r.open} open, ${r.pongs} pongs; ${r.rooms_evicted_and_rebuilt ?? "?"} rooms evicted during the hold and rebuilt on wake, ${r.rooms_woken_and_delivered} delivered after waking; RSS ${r.rss_mb.before}->${r.rss_mb.held} MB`
      : r.fanout ? `${r.fanout.sockets_in_room} sockets in the room, ${r.fanout.sockets_on_shards} on shards; ${r.fanout.deliver_calls_per_message} shard calls/msg; workerd CPU ${r.workerd_cpu_us_per_delivery} µs/delivery; ack p99 ${r.ack_ms.p99} ms`
      : r.accepted_per_s != null
        ? `ack p99 ${r.ack_ms.p99} ms, ${r.acked}/${r.sent} acked` +
          (r.workerd_cpu_us_per_delivery != null && r.params.clients > 2 ? `; workerd CPU ${r.workerd_cpu_us_per_delivery} µs/delivery` : "") +
          (r.d1 ? `; D1 ${r.d1.statements_per_message} statements/msg, ack→D1 lag p50 ${r.d1.lag_ms.p50} / p99 ${r.d1.lag_ms.p99} ms${r.d1.caught_up ? "" : " (NOT caught up)"}` : "")
      : r.by_query ? Object.entries(r.by_query).map(([kind, l]) => `${kind} p50/p99 ${l.p50}/${l.p99}`).join("; ")
      : r.from_d1_ms ? `GET /api/chats from the inbox; the same list from D1 as before issue 25: p50/p99 ${r.from_d1_ms.p50}/${r.from_d1_ms.p99} ms (${r.from_d1_rounds} reads); ${r.failures} failures`
      : r.inboxEvents ? `sender ack with ${r.inboxOnly} inboxes (p50/p99 left) vs none: ${r.withoutInboxes.p50}/${r.withoutInboxes.p99} ms; final state ${r.inboxEvents.finalStateCorrect}`
      : "");
  rows.push([name, rate, lat.p50 ?? "-", lat.p99 ?? "-", r.lost ?? "-", r.duplicates ?? "-", notes]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
for (const r of rows) console.log(r.map((c, i) => (i === 6 ? String(c) : String(c).padEnd(widths[i]))).join("  "));
console.log(`workerd RSS: before ${report.memory_before.workerd_rss_mb} MB, after ${report.memory_after.workerd_rss_mb} MB`);
// The cost scenario, per message: what is billed, and the RPCs and rows behind it.
if (report.results.cost?.rows) {
  console.log("cost per message: DO requests (RPCs of them) | DO rows written | D1 statements, rows | $ per million | RPCs by method");
  for (const row of report.results.cost.rows) {
    const p = row.per_message;
    const rpcs = Object.entries(row.breakdown.rpc_per_message).map(([m, n]) => `${m} ${n}`).join(", ");
    console.log(`  ${row.case}: ${p.do_requests} (${p.do_rpc}) | ${p.do_rows_written} | ${p.d1_statements}, ${p.d1_rows_written} | $${row.usd_per_million_messages} | ${rpcs}`);
  }
}
mkdirSync(join(root, "bench-results"), { recursive: true });
const file = join(root, "bench-results", `bench-${report.started.replace(/[:.]/g, "-")}${quick ? "-quick" : ""}${delay ? `-d1delay${delay}` : ""}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
console.log(`JSON: ${file}`);
process.exit(failed ? 1 : 0);
