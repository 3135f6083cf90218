// A small Chrome DevTools protocol client for the Worker isolate, through wrangler's inspector port.
// Used to count live JS WebSocket objects (hibernation proof) and to take CPU profiles.

/** `target`: the isolate, by id prefix: "core:user:" is the Worker and its Durable Objects, "d1:db" local D1. */
export async function inspectWorker(port, target = "core:user:", nudge = null) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const found = targets.find((t) => t.id.startsWith(target));
  if (!found) throw new Error(`no inspector target ${target}`);
  const ws = new WebSocket(found.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = () => reject(new Error("inspector connect failed")))));
  let nextId = 1;
  const waiting = new Map();
  let contextId;
  let contextReady;
  const context = new Promise((r) => (contextReady = r));
  ws.onmessage = ({ data }) => {
    const msg = JSON.parse(data);
    if (msg.method === "Runtime.executionContextCreated") (contextId ??= msg.params.context.id), contextReady();
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    msg.error ? w.reject(new Error(msg.error.message)) : w.resolve(msg.result);
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => (waiting.delete(id), reject(new Error(`${method}: no answer`))), 120_000);
      waiting.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
      ws.send(JSON.stringify({ id, method, params }));
    });
  let enabled = null;
  // workerd answers Runtime.evaluate only in the context Runtime.enable announces.
  const enableRuntime = () =>
    (enabled ??= send("Runtime.enable").then(() => Promise.race([context, new Promise((r) => setTimeout(r, 5000))])));
  return {
    send,
    /** Live `WebSocket` JS objects in the isolate (queryObjects; workerd does not answer HeapProfiler.collectGarbage): server sockets of awake rooms. */
    async countWebSockets() {
      // The isolate processes inspector messages only while it runs: keep poking it with a request.
      const poke = nudge && setInterval(() => nudge().catch(() => {}), 100);
      try {
        const late = new Promise((_, reject) => setTimeout(() => reject(new Error("inspector did not answer in 8 s")), 8000));
        await Promise.race([enableRuntime(), late]);
        const proto = await send("Runtime.evaluate", { expression: "WebSocket.prototype", contextId });
        const { objects } = await Promise.race([send("Runtime.queryObjects", { prototypeObjectId: proto.result.objectId }), late]);
        const len = await send("Runtime.callFunctionOn", {
          objectId: objects.objectId,
          functionDeclaration: "function () { return this.length; }",
          returnByValue: true,
        });
        return len.result.value;
      } catch (e) {
        return `n/a (${e.message})`;
      } finally {
        if (poke) clearInterval(poke);
      }
    },
    close: () => ws.close(),
  };
}
