// A small Chrome DevTools protocol client for the Worker isolate, through wrangler's inspector port.
// Used to count live JS WebSocket objects (hibernation proof) and to take CPU profiles.

export async function inspectWorker(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl ?? `ws://127.0.0.1:${port}/${target.id}`);
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = () => reject(new Error("inspector connect failed")))));
  let nextId = 1;
  const waiting = new Map();
  ws.onmessage = ({ data }) => {
    const msg = JSON.parse(data);
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    msg.error ? w.reject(new Error(msg.error.message)) : w.resolve(msg.result);
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    send,
    /** Live `WebSocket` JS objects in the isolate after a full GC: server sockets of awake rooms. */
    async countWebSockets() {
      try {
        await send("HeapProfiler.collectGarbage");
        const proto = await send("Runtime.evaluate", { expression: "WebSocket.prototype" });
        const { objects } = await send("Runtime.queryObjects", { prototypeObjectId: proto.result.objectId });
        const len = await send("Runtime.callFunctionOn", {
          objectId: objects.objectId,
          functionDeclaration: "function () { return this.length; }",
          returnByValue: true,
        });
        return len.result.value;
      } catch (e) {
        return `n/a (${e.message})`;
      }
    },
    close: () => ws.close(),
  };
}
