#!/usr/bin/env node
// Idle memory of the Socket.IO reference, measured as the bench measures workerd: the server
// process's VmRSS before the sockets open and while they are held. The reference (socketio-server.mjs
// and load.mjs, with their own package.json) is not part of this repository: it is the shared bench
// folder handed to the developers beside it. Name it with --bench-dir or SOCKETIO_BENCH_DIR.
// Usage: node bench/socketio-idle.mjs --bench-dir <dir> [--port 3962] [--rooms 100 --clients 50 --hold 30]
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { rssMb } from "./server.mjs";

const { values: o } = parseArgs({
  options: {
    "bench-dir": { type: "string", default: process.env.SOCKETIO_BENCH_DIR },
    port: { type: "string", default: "3962" },
    rooms: { type: "string", default: "100" },
    clients: { type: "string", default: "50" },
    hold: { type: "string", default: "30" },
  },
});
const dir = o["bench-dir"] && resolve(o["bench-dir"]);
if (!dir || !existsSync(join(dir, "socketio-server.mjs"))) {
  console.error("needs the Socket.IO reference: --bench-dir <folder with socketio-server.mjs and load.mjs> (or SOCKETIO_BENCH_DIR)");
  process.exit(2);
}
const db = join(mkdtempSync(join(tmpdir(), "sio-idle-")), "db.sqlite");
// The reference runs on the machine's `node`, as compare.sh runs it (better-sqlite3 is built for that one).
// npm puts the project's Node 24 (node_modules/.bin) first on PATH: drop it for the reference.
const PATH = process.env.PATH.split(":").filter((d) => !d.includes("node_modules")).join(":");
const server = spawn("node", ["socketio-server.mjs"], { cwd: dir, env: { ...process.env, PATH, PORT: o.port, DB_PATH: db }, stdio: ["ignore", "ignore", "inherit"] });
await new Promise((r) => setTimeout(r, 2000));
const before = rssMb(server.pid);
let held = null;
const load = spawn("node", ["load.mjs", "--target", "socketio", "--url", `http://127.0.0.1:${o.port}`, "--scenario", "idle", "--rooms", o.rooms, "--clients", o.clients, "--hold", o.hold], { cwd: dir, env: { ...process.env, PATH }, stdio: ["ignore", "pipe", "pipe"] });
let out = "";
load.stdout.on("data", (d) => (out += d));
load.stderr.on("data", (d) => {
  if (String(d).includes("holding")) setTimeout(() => (held = rssMb(server.pid)), (Number(o.hold) * 1000) / 2);
});
await new Promise((r) => load.on("exit", r));
server.kill();
const result = JSON.parse(out.trim().split("\n").at(-1));
console.log(JSON.stringify({ target: "socketio", scenario: "idle", ...result, rss_mb: { before, held }, rss_kb_per_socket: +(((held - before) * 1024) / result.open).toFixed(1) }));
