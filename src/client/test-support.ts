/**
 * Fakes for the client's unit tests (not part of the client): a socket the test plays the server
 * for, timers the test advances by hand, and a fetch whose requests the test answers one by one.
 */
import { ServerEvent } from "../protocol/events";
import type { Message } from "../protocol/models";
import type { SocketEnvironment, WebSocketLike } from "./socket";

export class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: WebSocketLike["onopen"] = null;
  onmessage: WebSocketLike["onmessage"] = null;
  onclose: WebSocketLike["onclose"] = null;
  onerror: WebSocketLike["onerror"] = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
  }
  // Server side.
  /** Opens the socket and greets it as a chat room does (`lastChangeId`: the chat's newest change). */
  accept(online: unknown[] = [], lastChangeId = 0) {
    this.readyState = 1;
    this.onopen?.({});
    this.push(ServerEvent.JoinedChat, { chatId: 7, message: "Successfully joined chat", online, lastChangeId });
  }
  push(event: string, data: unknown) {
    this.onmessage?.({ data: JSON.stringify({ event, data }) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  frames() {
    return this.sent.filter((s) => s !== "ping").map((s) => JSON.parse(s) as { event: string; data: Record<string, unknown> });
  }
}

export function fakeEnvironment() {
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let now = 0;
  let nextId = 1;
  const env: SocketEnvironment = {
    WebSocket: FakeSocket,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
    random: () => 0.5,
  };
  const advance = (ms: number) => {
    now += ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const due = timers[0];
      if (!due || due.at > now) return;
      timers.shift();
      due.fn();
    }
  };
  return { env, advance, now: () => now, pendingTimers: () => timers.map((t) => t.at - now).sort((a, b) => a - b) };
}

export interface FakeRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** Answers with a JSON body (or a string as is). */
  respond(status: number, body?: unknown): void;
  /** Fails the way fetch does when the network is down. */
  fail(): void;
}

/**
 * A fetch the test answers by hand. Its responses resolve in microtasks only, so after `settle()`
 * every promise chain that depends on an answer has run.
 */
export function fakeFetch() {
  const requests: FakeRequest[] = [];
  const fetchImpl = ((input: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      requests.push({
        url: String(input),
        method: init?.method ?? "GET",
        headers: (init?.headers ?? {}) as Record<string, string>,
        respond: (status, body) => {
          const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
          resolve({ ok: status >= 200 && status < 300, status, statusText: "", text: () => Promise.resolve(text) } as Response);
        },
        fail: () => reject(new TypeError("fetch failed")),
      });
    })) as typeof fetch;
  return { fetch: fetchImpl, requests };
}

/** Runs every pending microtask (the fake fetch answers in microtasks only). */
export const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export const message = (id: number, content = `m${id}`, chatId = 7): Message => ({
  id,
  chatId,
  sender: { id: 2, username: "bob" },
  content,
  timestamp: new Date(0).toISOString(),
  attachments: [],
  editedAt: null,
  deleted: false,
  reactions: [],
  replyTo: null,
});

/** A history page as `GET …/messages?after=` answers it. */
export const page = (ids: number[], hasMore: boolean, lastChangeId = 0) => ({ messages: ids.map((id) => message(id)), hasMore, lastChangeId });
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
