// The typed client against the real Worker under wrangler dev. (The crash test, which also uses it,
// is test/fault/crash.test.mjs.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDevServer } from "../support/dev-server.mjs";
import { loadClient } from "../support/client-bundle.mjs";

const PORT = Number(process.env.CLIENT_TEST_PORT ?? 8796);
let server, client;

before(async () => {
  [server, client] = await Promise.all([startDevServer({ port: PORT }), loadClient()]);
});
after(async () => {
  await server?.stop();
});

const until = async (predicate, what, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test("REST helpers cover the chat lifecycle and report errors as ApiError", async () => {
  const { ApiClient, ApiError } = client;
  const ann = new ApiClient(server.url);
  const bob = new ApiClient(server.url);
  const suffix = Date.now().toString(36);
  const a = await ann.register(`ann_${suffix}`, "password-ann");
  const b = await bob.register(`bob_${suffix}`, "password-bob");
  assert.deepEqual(await ann.me(), a.user);
  assert.deepEqual(await ann.searchUsers(`bob_${suffix}`), [b.user]);
  const group = await ann.createChat({ type: "group", name: "Plans", memberIds: [b.user.id] });
  await ann.renameChat(group.id, "Weekend");
  const posted = await bob.postMessage(group.id, "hello", "c-1");
  assert.equal((await ann.history(group.id)).messages[0].id, posted.id);
  await ann.markRead(group.id, posted.id);
  assert.equal((await ann.getChat(group.id)).unreadCount, 0);
  assert.equal((await ann.setRole(group.id, b.user.id, "admin")).role, "admin");
  await bob.removeMember(group.id, b.user.id);
  await assert.rejects(bob.getChat(group.id), (e) => e instanceof ApiError && e.status === 403 && e.code === "forbidden");
  await assert.rejects(new ApiClient(server.url).login(`ann_${suffix}`, "wrong password"), (e) => e.status === 401);
});
