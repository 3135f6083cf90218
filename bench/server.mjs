// Starts the Worker locally for the bench: fresh local state (a temp --persist-to dir with the
// migrations applied), the same wrangler.toml bindings and a real local D1, rate limits lifted.
// `entry` swaps the Worker's main module (bench/delayed-worker.js wraps src/index.ts to add D1 latency).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = join(root, "scripts", "wrangler.mjs");

/** Vars every bench run needs: the per-user limit (10/s, burst 20) would throttle every scenario. */
export const BENCH_VARS = { MESSAGE_RATE_PER_SECOND: 1_000_000, MESSAGE_BURST: 1_000_000 };

export async function startService({ port = 8860, entry, vars = {}, log = () => {} } = {}) {
  const persistTo = mkdtempSync(join(tmpdir(), "edge-chat-bench-"));
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    cwd: root,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
  const args = [wrangler, "dev", ...(entry ? [entry] : []), "--port", String(port), "--inspector-port", String(port + 1)];
  args.push("--persist-to", persistTo, "--ip", "127.0.0.1");
  for (const [k, v] of Object.entries({ ...BENCH_VARS, ...vars })) args.push("--var", `${k}:${v}`);
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const onData = (chunk) => {
    for (const line of String(chunk).split("\n")) if (line.trim()) (output.push(line), log(line));
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise((r) => child.on("exit", r));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output.join("\n")}`);
    try {
      if ((await fetch(`${url}/api/me`)).status === 401) break;
    } catch {}
    if (Date.now() > deadline) {
      process.kill(-child.pid, "SIGKILL");
      throw new Error(`service did not become ready:\n${output.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    inspectorPort: port + 1,
    persistTo,
    output,
    workerdPid: () => descendants(child.pid).find((pid) => comm(pid) === "workerd"),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return;
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    },
  };
}

const comm = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
};

function descendants(pid) {
  const children = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {}
  }
  const out = [];
  const walk = (p) => (children.get(p) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(pid);
  return out;
}

/** Resident memory of a process in MB, from /proc/PID/status (VmRSS). */
export function rssMb(pid) {
  if (!pid) return null;
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
    return +(kb / 1024).toFixed(1);
  } catch {
    return null;
  }
}
