// Starts the Worker locally for the bench: fresh local state (a temp --persist-to dir with the
// migrations applied, in memory unless `disk`: see stateRoot), the same wrangler.toml bindings and a
// real local D1, rate limits lifted. `stop()` removes what it made.
// `entry` swaps the Worker's main module (bench/bench-worker.js wraps src/index.ts with the bench's instruments).
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = join(root, "scripts", "wrangler.mjs");

/** Vars every bench run needs: the per-user limit (10/s, burst 20) would throttle every scenario. */
export const BENCH_VARS = { MESSAGE_RATE_PER_SECOND: 1_000_000, MESSAGE_BURST: 1_000_000 };

/**
 * Where a bench service keeps its state (the objects' SQLite files and local D1): memory, unless
 * `disk` or the machine has no /dev/shm. Locally, workerd fsyncs an object's SQLite file at every
 * commit, on the runtime's one thread, which every room, the Worker and local D1 share: a rooms run
 * spent 0.68 s of 1.53 s blocked in 1,822 fsyncs (371 µs each, `strace -T`). Production's storage
 * never blocks the isolate on a local fsync, and the Socket.IO baseline's SQLite (WAL,
 * synchronous=NORMAL) does not sync per commit either; on tmpfs an fsync costs nothing.
 */
function stateRoot(disk) {
  if (disk) return { root: tmpdir(), state: `disk (${tmpdir()})` };
  try {
    if (statSync("/dev/shm").isDirectory()) {
      accessSync("/dev/shm", constants.W_OK);
      return { root: "/dev/shm", state: "memory (/dev/shm)" };
    }
  } catch {}
  return { root: tmpdir(), state: `disk (${tmpdir()}: no /dev/shm)` };
}

const STATE_PREFIX = "edge-chat-bench-";

/**
 * Removes the state of bench runs whose process is gone (killed before `stop()`): in /dev/shm it
 * holds the machine's memory until someone deletes it. A state directory is named after the pid of
 * the bench that made it; one whose process still runs (another bench, now) is left alone.
 */
function removeAbandonedState(dir) {
  for (const name of readdirSync(dir)) {
    const pid = new RegExp(`^${STATE_PREFIX}(\\d+)-`).exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return err.code === "EPERM";
  }
}

export async function startService({ port = 8860, entry, vars = {}, log = () => {}, keepInspector = false, disk = false } = {}) {
  const url = `http://127.0.0.1:${port}`;
  if (await fetch(`${url}/api/me`).then(() => true, () => false)) throw new Error(`port ${port} is already serving: stop that server or pass --port`);
  const { root: stateIn, state } = stateRoot(disk);
  removeAbandonedState(stateIn);
  const persistTo = mkdtempSync(join(stateIn, `${STATE_PREFIX}${process.pid}-`));
  const cwd = snapshot();
  const registry = mkdtempSync(join(tmpdir(), "edge-chat-bench-registry-"));
  const removeDirs = () => {
    for (const dir of [persistTo, registry, cwd]) rmSync(dir, { recursive: true, force: true });
  };
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    cwd,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw (removeDirs(), new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`));
  const args = [wrangler, "dev", ...(entry ? [entry] : []), "--port", String(port), "--inspector-port", String(port + 1)];
  args.push("--persist-to", persistTo, "--ip", "127.0.0.1");
  for (const [k, v] of Object.entries({ ...BENCH_VARS, ...vars })) args.push("--var", `${k}:${v}`);
  // A private dev registry: other wrangler dev sessions starting or stopping on this machine must not
  // make this one reload (a reload restarts the runtime and drops every socket).
  const env = { ...process.env, WRANGLER_REGISTRY_PATH: registry };
  const child = spawn(process.execPath, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const onData = (chunk) => {
    for (const line of String(chunk).split("\n")) if (line.trim()) (output.push(line), log(line));
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise((r) => child.on("exit", r));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw (removeDirs(), new Error(`wrangler dev exited early:\n${output.join("\n")}`));
    try {
      if ((await fetch(`${url}/api/me`)).status === 401) break;
    } catch {}
    if (Date.now() > deadline) {
      process.kill(-child.pid, "SIGKILL");
      removeDirs();
      throw new Error(`service did not become ready:\n${output.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // wrangler dev runs two workerd processes: its dev proxy (listening on `port`, forwarding every
  // request and frame) and the runtime (Miniflare: the Worker, the Durable Objects, local D1).
  // Production has no proxy, so the bench talks to the runtime's own entry socket directly.
  const workerds = descendants(child.pid).filter((pid) => comm(pid) === "workerd");
  const runtimePid = workerds.find((pid) => cmdline(pid).includes("--inspector-addr"));
  const proxyPid = workerds.find((pid) => pid !== runtimePid);
  // Its entry socket and inspector are on ports the OS chose: find them among its listening sockets.
  let directUrl = null, runtimeInspector = null;
  for (const p of listeningPorts(runtimePid)) {
    try {
      const res = await fetch(`http://127.0.0.1:${p}/api/me`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 401) directUrl ??= `http://127.0.0.1:${p}`;
    } catch {}
    try {
      const targets = await (await fetch(`http://127.0.0.1:${p}/json`, { signal: AbortSignal.timeout(2000) })).json();
      if (Array.isArray(targets) && targets.some((t) => t.id?.startsWith("core:user:"))) runtimeInspector ??= p;
    } catch {}
  }
  const devtoolsSession = keepInspector ? "kept (--keep-inspector)" : closeDevtoolsSession(runtimePid, runtimeInspector);
  log(`wrangler's devtools session on the runtime: ${devtoolsSession}`);
  return {
    url: directUrl ?? url,
    /** Whether wrangler's own devtools session on the runtime was closed (see closeDevtoolsSession). */
    devtoolsSession,
    proxyUrl: url,
    directUrl,
    proxyPid,
    /** The runtime's own inspector: the Worker isolate is the target `core:user:<name>`, local D1 is `d1:db`. */
    inspectorPort: runtimeInspector,
    persistTo,
    /** Where the state is: "memory (/dev/shm)" or "disk (…)" (see stateRoot). */
    state,
    /** The copy of the sources it runs from (wrangler's bundle is under .wrangler/tmp there). */
    sourceDir: cwd,
    output,
    workerdPid: () => runtimePid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
          await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
      removeDirs();
    },
  };
}

/**
 * `wrangler dev`'s proxy keeps a devtools (inspector) session open on the runtime, for its console.
 * Production has none, and the session is not free: while one is attached, workerd reports every
 * callback to V8's async stack tracking (InspectorSink in the perf profile: 14 % of the runtime's
 * CPU in the write scenario on a fresh runtime, 22 % after a few minutes of traffic: it scans a list
 * of callbacks not yet finished, which grew with the runtime's uptime). The bench closes that session, as it bypasses the proxy, so
 * it measures the runtime our code runs on in production. Linux only: `ss -K` needs CAP_NET_ADMIN
 * (root in a container); without it the session stays and the answer says so.
 */
function closeDevtoolsSession(runtimePid, inspectorPort) {
  if (!runtimePid || !inspectorPort) return "not found";
  const open = () => established(runtimePid, inspectorPort);
  if (open() === 0) return "none open";
  const ss = spawnSync("ss", ["-K", "dst", "127.0.0.1", "dport", "=", `:${inspectorPort}`], { encoding: "utf8" });
  if (open() === 0) return "closed";
  const why = ss.error ? `ss not found (${ss.error.message})` : "`ss -K` needs CAP_NET_ADMIN";
  return `still open: ${why}; figures include its cost`;
}

/** Established TCP connections a process has on its local port `port`. */
function established(pid, port) {
  const inodes = socketInodes(pid);
  let count = 0;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "01" && parseInt(f[1]?.split(":")[1] ?? "", 16) === port && inodes.has(f[9])) count++;
  }
  return count;
}

const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
};

function socketInodes(pid) {
  const inodes = new Set();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {}
    }
  } catch {}
  return inodes;
}

/** TCP ports a process listens on (its socket inodes matched against /proc/net/tcp). */
function listeningPorts(pid) {
  const inodes = socketInodes(pid);
  const ports = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "0A" && inodes.has(f[9])) ports.push(parseInt(f[1].split(":")[1], 16));
  }
  return ports;
}

/**
 * A copy of the Worker's sources to run from: `wrangler dev` reloads (restarting the runtime and
 * dropping every socket) whenever a watched source changes, and others edit this tree meanwhile.
 */
function snapshot() {
  // wrangler.toml serves build/web as assets: a fresh clone has none until the web app is built.
  if (!existsSync(join(root, "build", "web", "index.html"))) {
    const build = spawnSync(process.execPath, [join(root, "scripts", "build-web.mjs")], { cwd: root, encoding: "utf8" });
    if (build.status !== 0) throw new Error(`web build failed:\n${build.stdout}\n${build.stderr}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "edge-chat-bench-src-"));
  for (const entry of ["src", "migrations", "build", "bench", "wrangler.toml", ".dev.vars", "package.json", "tsconfig.json"]) {
    if (existsSync(join(root, entry))) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return dir;
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

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid) {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}
