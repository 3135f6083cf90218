// CPU profile of the Worker isolate (the Worker and every Durable Object run in it) over the
// Chrome DevTools protocol on wrangler's inspector port. Writes a .cpuprofile (open it in
// Chrome DevTools) and returns the top functions by self time.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { inspectWorker } from "./inspector.mjs";

export async function profileWorker(port, target = "core:user:", intervalUs = 200) {
  const inspector = await inspectWorker(port, target);
  // Not awaited: workerd's inspector answers an isolate only while that isolate runs something,
  // so the commands take effect when the scenario's first request reaches it.
  const started = Promise.all([
    inspector.send("Profiler.enable"),
    inspector.send("Profiler.setSamplingInterval", { interval: intervalUs }),
    inspector.send("Profiler.start"),
  ]);
  started.catch(() => {});
  return {
    /** Settles once the isolate answered the start commands. */
    ready: started.catch(() => {}),
    /** Closes the session without waiting for a profile. */
    abandon: () => inspector.close(),
    async stop(file) {
      const failed = await started.then(() => null, (e) => e);
      if (failed) return (inspector.close(), { error: failed.message });
      const { profile } = await inspector.send("Profiler.stop");
      inspector.close();
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      return { file, ...summarise(profile) };
    },
  };
}

/**
 * Self time per function, and total time (self and everything it called) per function: where a
 * scenario's busy time goes, and which of our functions it goes through.
 */
export function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
  const keyOf = ({ callFrame: f }) => `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
  const fns = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const key = keyOf(byId.get(id));
    fns.set(key, (fns.get(key) ?? 0) + us);
    total += us;
  }
  // Total time: each node's self time counted once for every distinct function on its stack.
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf(byId.get(at));
      if (seen.has(key)) continue;
      seen.add(key);
      totals.set(key, (totals.get(key) ?? 0) + us);
    }
  }
  const busy = total - (fns.get("(idle) :0") ?? 0);
  const rank = (m, skip) =>
    [...m]
      .filter(([fn]) => !skip.test(fn))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), pct_of_busy: +((100 * us) / busy).toFixed(1) }));
  return { sampled_ms: Math.round(total / 1000), busy_ms: Math.round(busy / 1000), by_object: byObject(profile, self, busy), top: rank(fns, /^$/), total: rank(totals, /^\((root|idle|program)\) /) };
}

/**
 * Busy time by the object whose code was running: each sample goes to the nearest frame of our
 * own source on its stack (a runtime call such as a socket send counts for the code that made it),
 * then to the fan-out shards (src/fanout/shard.ts), the rooms (src/room), the Worker (src/http) or
 * other code of ours; samples with none of ours on the stack are the runtime's.
 */
function byObject(profile, self, busy) {
  const parent = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const owner = (id) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at).callFrame.url;
      const src = url.indexOf("/src/");
      if (src < 0) continue;
      const file = url.slice(src + 1);
      return file === "src/fanout/shard.ts" ? "shards" : file.startsWith("src/room/") ? "rooms" : file.startsWith("src/http/") ? "worker" : "other src";
    }
    return "runtime";
  };
  const ms = {};
  for (const [id, us] of self) {
    if (byId.get(id).callFrame.functionName === "(idle)") continue;
    const who = owner(id);
    ms[who] = (ms[who] ?? 0) + us;
  }
  return Object.fromEntries(Object.entries(ms).map(([who, us]) => [who, { ms: Math.round(us / 1000), pct_of_busy: +((100 * us) / busy).toFixed(1) }]));
}
