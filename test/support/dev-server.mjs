// Starts the real Worker under `wrangler dev` on fresh (or given) local state, for Node-side tests
// and benchmarks. Migrations are applied first, exactly as `npm start` does.
import { spawn, spawnSync } from "node:child_process";
import { after, before } from "node:test";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const wrangler = join(root, "scripts", "wrangler.mjs");

/**
 * @param {{ port: number, persistTo?: string, vars?: Record<string, string | number>, log?: (line: string) => void }} options
 * @returns {Promise<{ url: string, persistTo: string, pid: number, stop(): Promise<void>, kill(): Promise<void> }>}
 */
export async function startDevServer({ port, persistTo = mkdtempSync(join(tmpdir(), "edge-chat-")), vars = {}, log = () => {} }) {
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    cwd: root,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const args = [wrangler, "dev", "--port", String(port), "--inspector-port", String(port + 1), "--persist-to", persistTo, "--ip", "127.0.0.1"];
  for (const [key, value] of Object.entries(vars)) args.push("--var", `${key}:${value}`);
  // Its own process group, so a test can kill wrangler and workerd together (a crash, not a shutdown).
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const onData = (chunk) => {
    for (const line of String(chunk).split("\n")) {
      if (!line.trim()) continue;
      output.push(line);
      log(line);
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise((resolve) => child.on("exit", resolve));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output.join("\n")}`);
    try {
      const res = await fetch(`${url}/api/me`);
      if (res.status === 401) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      process.kill(-child.pid, "SIGKILL");
      throw new Error(`wrangler dev did not become ready:\n${output.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  const signalGroup = async (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      return;
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  };
  return {
    url,
    persistTo,
    pid: child.pid,
    output,
    stop: () => signalGroup("SIGTERM"),
    kill: () => signalGroup("SIGKILL"),
  };
}

/**
 * For a node:test file: starts the server before its tests and stops it after. `http` sends JSON
 * (with a bearer token when given) and answers `{ status, body }`.
 */
export function useDevServer(options) {
  const dev = {
    server: null,
    async http(method, path, body, token) {
      const res = await fetch(dev.server.url + path, {
        method,
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
  };
  before(async () => {
    dev.server = await startDevServer(options);
  });
  after(async () => {
    await dev.server?.stop();
  });
  return dev;
}

/** The local D1 database's file under wrangler's state (not the object's metadata.sqlite beside it). */
export function d1File(persistTo) {
  const dir = join(persistTo, "v3", "d1", "miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (files.length !== 1) throw new Error(`expected one D1 database file in ${dir}, found: ${files}`);
  return join(dir, files[0]);
}

/**
 * A chat's messages as the local D1 has them now (`[clientId, id]` in id order), read from the file
 * itself: the API serves chats from their rooms, so only this shows what the copy to D1 wrote.
 * Empty while the Worker holds the file (read again then).
 */
export function messagesInD1(persistTo, chatId) {
  const db = new DatabaseSync(d1File(persistTo), { readOnly: true });
  try {
    return db.prepare("SELECT id, client_id, content FROM messages WHERE chat_id = ? ORDER BY id").all(chatId);
  } catch {
    return [];
  } finally {
    db.close();
  }
}
