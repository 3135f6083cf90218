// ApiClient: every failure is an ApiError, whatever body the failing hop answered with.
import { describe, expect, it } from "vitest";
import { ApiClient, ApiError } from "./api";

const answering = (status: number, body: string, headers: Record<string, string> = {}) => {
  const seen: { url: string; init?: RequestInit }[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    seen.push({ url: String(input), init });
    return new Response(body === "" ? null : body, { status, headers });
  }) as typeof fetch;
  return { api: new ApiClient("https://chat.test/", "tok", fetchImpl), seen };
};

const caught = (promise: Promise<unknown>) => promise.then(() => null, (e: unknown) => e);

/** A fetch that records each request (and its headers) and answers with the status and body given per call. */
const recording = () => {
  const seen: { method: string; url: string; body: unknown }[] = [];
  const headers: Headers[] = [];
  const answers: [number, string][] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    seen.push({ method: init?.method ?? "GET", url: String(input), body: init?.body === undefined ? undefined : JSON.parse(String(init.body)) });
    headers.push(new Headers(init?.headers));
    const [status, body] = answers.shift() ?? [204, ""];
    return new Response(body === "" ? null : body, { status });
  }) as typeof fetch;
  return { api: new ApiClient("https://chat.test", "tok", fetchImpl), seen, headers, answer: (status: number, body?: unknown) => answers.push([status, body === undefined ? "" : JSON.stringify(body)]) };
};

describe("ApiClient errors", () => {
  it("an HTML 502 page is an ApiError internal, not a SyntaxError", async () => {
    const { api } = answering(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", { "content-type": "text/html" });
    const error = await caught(api.listChats());
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 502, code: "internal", fromApi: false });
    expect((error as ApiError).message).toContain("502");
  });

  it("an HTML 503 page is an ApiError unavailable", async () => {
    const { api } = answering(503, "<html>Service Unavailable</html>", { "content-type": "text/html" });
    expect(await caught(api.history(1, { after: 5 }))).toMatchObject({ status: 503, code: "unavailable" });
  });

  it("a non-JSON body on a known status takes that status's code; an empty one too", async () => {
    expect(await caught(answering(404, "Not Found").api.getChat(1))).toMatchObject({ status: 404, code: "not_found" });
    expect(await caught(answering(500, "").api.me())).toMatchObject({ status: 500, code: "internal" });
  });

  it("a 200 that is not JSON is an ApiError too", async () => {
    const error = await caught(answering(200, "<!doctype html><title>app</title>").api.me());
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 200, code: "internal" });
  });

  it("a JSON error body keeps its code and message", async () => {
    const { api, seen } = answering(403, JSON.stringify({ error: "not a member of this chat", code: "forbidden" }));
    expect(await caught(api.getChat(9))).toMatchObject({ status: 403, code: "forbidden", message: "not a member of this chat", fromApi: true });
    expect(seen[0]!.url).toBe("https://chat.test/api/chats/9");
    expect(new Headers(seen[0]!.init!.headers).get("authorization")).toBe("Bearer tok");
  });

  it("still answers JSON and empty successes", async () => {
    expect(await answering(200, JSON.stringify({ messages: [], hasMore: false })).api.history(1, { after: 0, limit: 100 })).toEqual({ messages: [], hasMore: false });
    expect(await answering(204, "").api.markRead(1, 2)).toBeNull();
  });
});

describe("ApiClient: messages that live, over HTTP", () => {

  it("edits, deletes, reacts and unreacts on the contract's routes, the emoji percent-encoded", async () => {
    const { api, seen, answer } = recording();
    answer(200, { id: 4, content: "fixed" });
    expect(await api.editMessage(9, 4, "fixed")).toMatchObject({ id: 4, content: "fixed" });
    expect(await api.deleteMessage(9, 4)).toBeNull();
    await api.addReaction(9, 5, "👍🏽");
    await api.removeReaction(9, 5, "👨‍👩‍👧");
    expect(seen).toEqual([
      { method: "PATCH", url: "https://chat.test/api/chats/9/messages/4", body: { content: "fixed" } },
      { method: "DELETE", url: "https://chat.test/api/chats/9/messages/4", body: undefined },
      { method: "PUT", url: "https://chat.test/api/chats/9/messages/5/reactions/%F0%9F%91%8D%F0%9F%8F%BD", body: undefined },
      { method: "DELETE", url: "https://chat.test/api/chats/9/messages/5/reactions/%F0%9F%91%A8%E2%80%8D%F0%9F%91%A9%E2%80%8D%F0%9F%91%A7", body: undefined },
    ]);
  });

  it("pages changes with after=, and a refusal is an ApiError with the contract's code", async () => {
    const { api, seen, answer } = recording();
    answer(200, { messages: [], lastChangeId: 12, hasMore: false });
    expect(await api.changes(9, 12)).toEqual({ messages: [], lastChangeId: 12, hasMore: false });
    expect(seen[0]).toMatchObject({ method: "GET", url: "https://chat.test/api/chats/9/changes?after=12" });
    answer(410, { error: "the message was deleted", code: "gone" });
    expect(await caught(api.editMessage(9, 4, "too late"))).toMatchObject({ status: 410, code: "gone", fromApi: true });
  });

  it("posts a reply with replyToId; the clientId-only form still works", async () => {
    const { api, seen, answer } = recording();
    answer(201, { id: 1 });
    answer(201, { id: 2 });
    answer(201, { id: 3 });
    await api.postMessage(9, "re", { replyToId: 7, clientId: "c1" });
    await api.postMessage(9, "old form", "c2");
    await api.postMessage(9, "bare");
    expect(seen.map((s) => s.body)).toEqual([{ content: "re", clientId: "c1", replyToId: 7 }, { content: "old form", clientId: "c2" }, { content: "bare" }]);
  });
});

describe("ApiClient: push notifications and mute", () => {
  const subscription = { endpoint: "https://push.example/send/abc", expirationTime: null, keys: { p256dh: "B".padEnd(87, "A"), auth: "A".repeat(22) } };

  it("reads the VAPID key without a token", async () => {
    const { api, seen, headers, answer } = recording();
    api.token = null;
    answer(200, { key: "BKey" });
    expect(await api.vapidPublicKey()).toBe("BKey");
    expect(seen).toEqual([{ method: "GET", url: "https://chat.test/api/push/vapid-public-key", body: undefined }]);
    expect(headers[0]!.get("authorization")).toBeNull();
  });

  it("subscribes with a browser's PushSubscription (its toJSON) or the JSON itself, and unsubscribes by endpoint", async () => {
    const { api, seen, headers, answer } = recording();
    // The contract's answers: 201 and 200 with no body, 204.
    answer(201);
    answer(200);
    await api.subscribePush({ toJSON: () => subscription, endpoint: "ignored: only toJSON is sent" });
    await api.subscribePush(subscription);
    expect(await api.unsubscribePush(subscription.endpoint)).toBeNull();
    expect(seen).toEqual([
      { method: "POST", url: "https://chat.test/api/push/subscriptions", body: subscription },
      { method: "POST", url: "https://chat.test/api/push/subscriptions", body: subscription },
      { method: "DELETE", url: "https://chat.test/api/push/subscriptions", body: { endpoint: subscription.endpoint } },
    ]);
    expect(headers.map((h) => [h.get("authorization"), h.get("content-type")])).toEqual(Array(3).fill(["Bearer tok", "application/json"]));
  });

  it("reads and sets the previews setting", async () => {
    const { api, seen, answer } = recording();
    answer(200, { previews: true });
    answer(200, { previews: false });
    expect(await api.pushSettings()).toEqual({ previews: true });
    expect(await api.setPushPreviews(false)).toEqual({ previews: false });
    expect(seen).toEqual([
      { method: "GET", url: "https://chat.test/api/push/settings", body: undefined },
      { method: "PATCH", url: "https://chat.test/api/push/settings", body: { previews: false } },
    ]);
  });

  it("mutes and unmutes a chat", async () => {
    const { api, seen } = recording();
    expect(await api.muteChat(9)).toBeNull();
    expect(await api.unmuteChat(9)).toBeNull();
    expect(seen.map(({ method, url }) => `${method} ${url}`)).toEqual(["PUT https://chat.test/api/chats/9/mute", "DELETE https://chat.test/api/chats/9/mute"]);
  });

  it("a refused subscription is an ApiError with the contract's code", async () => {
    const { api, answer } = recording();
    answer(400, { error: "endpoint must be an https: URL", code: "bad_request" });
    expect(await caught(api.subscribePush({ ...subscription, endpoint: "http://push.example/x" }))).toMatchObject({ status: 400, code: "bad_request", fromApi: true });
    answer(401, { error: "missing token", code: "unauthorized" });
    expect(await caught(api.muteChat(9))).toMatchObject({ status: 401, code: "unauthorized" });
  });
});

describe("ApiClient attachments", () => {
  it("uploads the file as the body with its type and percent-encoded name, and reports the end as progress", async () => {
    const upload = { id: "7-AAAAAAAAAAAAAAAAAAAAAA", name: "ünd 1.png", size: 3, contentType: "image/png" };
    const { api, seen } = answering(201, JSON.stringify(upload));
    const progress: [number, number][] = [];
    const file = new Blob([new Uint8Array([1, 2, 3])], { type: "image/png" });
    expect(await api.uploadAttachment(7, file, { name: "ünd 1.png", onProgress: (sent, total) => progress.push([sent, total]) })).toEqual(upload);
    expect(seen[0]!.url).toBe("https://chat.test/api/chats/7/attachments");
    expect(seen[0]!.init).toMatchObject({ method: "POST", body: file, headers: { "Content-Type": "image/png", "X-File-Name": "%C3%BCnd%201.png", Authorization: "Bearer tok" } });
    expect(progress).toEqual([[3, 3]]);
  });

  it("a refused upload is an ApiError with the contract's code", async () => {
    const { api } = answering(415, JSON.stringify({ error: "files of type image/svg+xml are not accepted", code: "unsupported_media_type" }));
    expect(await caught(api.uploadAttachment(7, new Blob(["<svg/>"], { type: "image/svg+xml" }), { name: "a.svg" }))).toMatchObject({ status: 415, code: "unsupported_media_type" });
  });

  describe("through XMLHttpRequest (with onProgress)", () => {
    /** A fake XHR that answers 201 on send, unless aborted first; it records what was made. */
    const fakeXhr = () => {
      const made: { sent: boolean; aborted: boolean }[] = [];
      class FakeXhr {
        upload = { onprogress: null };
        onload: (() => void) | null = null;
        onerror: (() => void) | null = null;
        onabort: (() => void) | null = null;
        status = 201;
        statusText = "Created";
        responseText = JSON.stringify({ id: "7-x", name: "a", size: 1, contentType: "image/png" });
        state = { sent: false, aborted: false };
        constructor() {
          made.push(this.state);
        }
        open() {}
        setRequestHeader() {}
        send() {
          this.state.sent = true;
          queueMicrotask(() => !this.state.aborted && this.onload?.());
        }
        abort() {
          this.state.aborted = true;
          this.onabort?.();
        }
      }
      return { made, FakeXhr };
    };
    const withXhr = async (FakeXhr: unknown, run: () => Promise<void>) => {
      const g = globalThis as { XMLHttpRequest?: unknown };
      const saved = g.XMLHttpRequest;
      g.XMLHttpRequest = FakeXhr;
      try {
        await run();
      } finally {
        g.XMLHttpRequest = saved;
      }
    };
    /** A signal that counts its abort listeners. */
    const countingSignal = (controller: AbortController) => {
      let listeners = 0;
      const { signal } = controller;
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      signal.addEventListener = ((type: string, fn: EventListener, o?: boolean | { once?: boolean }) => (type === "abort" && listeners++, add(type, fn, o))) as typeof signal.addEventListener;
      signal.removeEventListener = ((type: string, fn: EventListener, o?: boolean | { capture?: boolean }) => (type === "abort" && listeners--, remove(type, fn, o))) as typeof signal.removeEventListener;
      return { signal, listeners: () => listeners };
    };

    it("an already-aborted signal rejects with AbortError and never sends", async () => {
      const { made, FakeXhr } = fakeXhr();
      const { api } = answering(500, "");
      const controller = new AbortController();
      controller.abort();
      await withXhr(FakeXhr, async () => {
        const error = await caught(api.uploadAttachment(7, new Blob(["a"], { type: "image/png" }), { signal: controller.signal, onProgress: () => {} }));
        expect(error).toMatchObject({ name: "AbortError" });
      });
      expect(made.filter((x) => x.sent)).toEqual([]);
    });

    it("aborting mid-upload rejects with AbortError; the abort listener is removed after every upload", async () => {
      const { made, FakeXhr } = fakeXhr();
      const { api } = answering(500, "");
      const controller = new AbortController();
      const { signal, listeners } = countingSignal(controller);
      await withXhr(FakeXhr, async () => {
        await api.uploadAttachment(7, new Blob(["a"], { type: "image/png" }), { signal, onProgress: () => {} });
        await api.uploadAttachment(7, new Blob(["b"], { type: "image/png" }), { signal, onProgress: () => {} });
        expect(listeners()).toBe(0);
        const pending = caught(api.uploadAttachment(7, new Blob(["c"], { type: "image/png" }), { signal, onProgress: () => {} }));
        controller.abort();
        expect(await pending).toMatchObject({ name: "AbortError" });
        expect(listeners()).toBe(0);
      });
      expect(made.map((x) => x.aborted)).toEqual([false, false, true]);
    });
  });

  it("makes a signed URL absolute", async () => {
    const { api } = answering(200, JSON.stringify({ url: "/api/attachments/7-x?user=1&expires=2&sig=s", expiresAt: "2026-01-01T00:00:00.000Z" }));
    expect((await api.attachmentUrl("7-x")).url).toBe("https://chat.test/api/attachments/7-x?user=1&expires=2&sig=s");
  });
});

describe("ApiClient.search", () => {
  it("sends q and the options given as the query string, encoded", async () => {
    const page = { results: [], hasMore: false, nextBefore: null };
    const { api, seen } = answering(200, JSON.stringify(page));
    expect(await api.search('tea & "cake"')).toEqual(page);
    await api.search("x", { chatId: 7, limit: 5, before: "1769000000000.15.99" });
    expect(seen.map((s) => s.url)).toEqual([
      "https://chat.test/api/search?q=tea+%26+%22cake%22",
      "https://chat.test/api/search?q=x&chatId=7&limit=5&before=1769000000000.15.99",
    ]);
  });
});

describe("ApiClient D1 bookmark", () => {
  const B1 = "00000000-00000001-00000000-00000000000000000000000000000000";
  const B2 = "00000000-00000002-00000000-00000000000000000000000000000000";
  /** A fake server answering each request with the next of `bookmarks` (null: no header). */
  const server = (bookmarks: (string | null)[]) => {
    const sent: (string | null)[] = [];
    const fetchImpl = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      sent.push(new Headers(init?.headers).get("X-D1-Bookmark"));
      const bookmark = bookmarks.shift() ?? null;
      return new Response(JSON.stringify({ users: [], chats: [] }), { status: 200, headers: bookmark ? { "X-D1-Bookmark": bookmark } : {} });
    }) as typeof fetch;
    return { api: new ApiClient("https://chat.test", "tok", fetchImpl), sent };
  };

  it("sends none before the server gave one, then the last one it received on every request", async () => {
    const { api, sent } = server([B1, null, B2, null]);
    await api.searchUsers("a");
    await api.listChats();
    await api.searchUsers("b");
    await api.me();
    // The second request carries B1; a request answered without a header keeps it; B2 replaces it.
    expect(sent).toEqual([null, B1, B1, B2]);
    expect(api.bookmark).toBe(B2);
  });

  it("an older bookmark answered late does not replace a newer one", async () => {
    const { api, sent } = server([B2, B1, null]);
    await api.searchUsers("a");
    await api.searchUsers("b");
    await api.listChats();
    expect(sent).toEqual([null, B2, B2]);
  });

  it("an error answer's bookmark is kept too", async () => {
    const fetchImpl = (async () => new Response(JSON.stringify({ error: "no", code: "not_found" }), { status: 404, headers: { "X-D1-Bookmark": B1 } })) as typeof fetch;
    const api = new ApiClient("https://chat.test", "tok", fetchImpl);
    await api.getChat(1).catch(() => undefined);
    expect(api.bookmark).toBe(B1);
  });
});
