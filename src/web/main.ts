/** The web app: sign in, the live chat list, and one open chat at a time. */
import { ApiClient, ApiError } from "../client/api";
import { InboxConnection } from "../client/inbox-connection";
import { browserEnvironment } from "../client/socket";
import { TokenRefresher } from "../client/token-refresher";
import { ErrorCode } from "../protocol/errors";
import { InboxEvent } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { AuthResponse, Chat } from "../protocol/models";
import { titleFor } from "./attention";
import { ChatList, chatTitle } from "./chat-list";
import { BlockList } from "./blocks";
import { APP_PATH, chatLink, isOpenChatMessage, linkedChatId } from "./chat-link";
import { ChatView } from "./chat-view";
import { h, replace } from "./dom";
import { Notifications } from "./notifications";
import { MessageSearch } from "./search";
import { clearSession, loadSession, saveSession } from "./session";

const root = document.getElementById("app")!;
const api = new ApiClient(location.origin);

/** Why the user is back at the login, when they did not ask for it. */
const SESSION_ENDED = "Your session ended (you logged out on another device, changed your password, or it expired). Log in again.";

function showLogin(notice = ""): void {
  const username = h("input", { id: "login-username", autocomplete: "username", required: true, "data-testid": "username" });
  const password = h("input", { id: "login-password", type: "password", placeholder: "8+ characters", autocomplete: "current-password", required: true, "data-testid": "password" });
  const error = h("div", { class: "error", role: "alert", "data-testid": "login-error" }, notice);
  const submit = (action: "login" | "register") => async () => {
    error.textContent = "";
    try {
      const session = await api[action](username.value.trim(), password.value);
      saveSession(session);
      void showApp(session);
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  };
  document.title = titleFor([], false);
  replace(
    root,
    h(
      "form",
      { class: "login", onsubmit: (e) => (e.preventDefault(), void submit("login")()) },
      h("h1", {}, "Edge chat"),
      h("label", { htmlFor: "login-username" }, "Username"),
      username,
      h("label", { htmlFor: "login-password" }, "Password"),
      password,
      h("button", { class: "primary", type: "submit", "data-testid": "login" }, "Log in"),
      h("button", { type: "button", onclick: () => void submit("register")(), "data-testid": "register" }, "Create account"),
      error,
    ),
  );
  username.focus();
}

async function showApp(session: AuthResponse): Promise<void> {
  api.token = session.token;
  const me = session.user;
  const shell = h("div", { class: "shell" });
  let pane: HTMLElement = h("section", { class: "chat" }, h("p", { class: "empty" }, "Pick a chat or start one."));
  let view: ChatView | null = null;

  let ended = false;
  const endSession = (notice?: string) => {
    if (ended) return;
    ended = true;
    refresher.stop();
    inbox.close();
    view?.close();
    void notifications.stop();
    document.removeEventListener("visibilitychange", retitle);
    navigator.serviceWorker?.removeEventListener("message", fromWorker);
    window.removeEventListener("hashchange", followLink);
    history.replaceState(null, "", APP_PATH);
    clearSession();
    showLogin(notice);
  };
  // Logout ends this browser's push subscription (while the token still works), then revokes the
  // session everywhere (every device's sockets close); local sign-out follows whether or not the
  // server could be reached.
  const logOut = () => void notifications.stop().then(() => api.logout()).catch(() => {}).finally(() => endSession());

  const list = new ChatList(me, (chat) => void openChat(chat));
  const blocks = new BlockList(api);
  // The unread total shows in the title while the tab is hidden.
  const retitle = () => (document.title = titleFor([...list.chats.values()].map((c) => c.unreadCount), document.hidden));
  list.onChange = retitle;
  document.addEventListener("visibilitychange", retitle);
  /** Opens a chat by id: from the list, or asked of the server (a search result, a link, a push). */
  const openById = (chatId: number, focusId?: number) => {
    const chat = list.chats.get(chatId);
    void (chat ? Promise.resolve(chat) : api.getChat(chatId)).then((c) => openChat(c, focusId), () => {});
  };
  /** A chat asked for from outside (a link, a push's notification): opened unless it is open and shown already. */
  const showChat = (chatId: number | null) => {
    if (chatId !== null && !(view && list.activeId === chatId && shell.classList.contains("in-chat"))) openById(chatId);
  };
  const notifications = new Notifications(me, api, showChat);
  const fromWorker = (event: MessageEvent) => {
    if (isOpenChatMessage(event.data)) showChat(event.data.chatId);
  };
  const followLink = () => showChat(linkedChatId(location.hash));
  const inbox = new InboxConnection({ baseUrl: location.origin, token: session.token, env: browserEnvironment() });
  // The token is refreshed before it expires and handed to the open sockets, so a tab left open stays signed in.
  const refresher = new TokenRefresher(api, browserEnvironment());
  refresher.attach(inbox);
  refresher.on("token", ({ token }) => saveSession({ ...session, token }));
  refresher.on("ended", () => endSession(SESSION_ENDED));
  let detachView = () => {};

  /** Opens a chat; at `focusId` (a search result) rather than its newest message. */
  const openChat = async (chat: Chat, focusId?: number) => {
    view?.close();
    detachView();
    // No local zeroing of its unread count: the list draws no badge for the open chat, and the count
    // falls to 0 when the read marker the view sends comes back as `chat_read` (the room's own number).
    list.select(chat.id);
    notifications.dismiss(chat.id);
    // The address names the open chat: a reload comes back to it, and a push's click finds this tab.
    history.replaceState(null, "", chatLink(chat.id));
    shell.classList.add("in-chat");
    const opened = (view = new ChatView(api, me, chat, blocks, {
      onRead: (chatId, messageId) => void api.markRead(chatId, messageId).catch(() => {}),
      onLeft: (chatId) => list.apply({ kind: "removed", chatId }),
      onBack: () => {
        shell.classList.remove("in-chat");
        history.replaceState(null, "", APP_PATH);
        list.focus(chat.id);
      },
      onSessionEnded: () => endSession(SESSION_ENDED),
      onMuted: (chatId, muted) => list.apply({ kind: "muted", chatId, muted }),
    }));
    detachView = refresher.attach(opened.connection);
    pane.replaceWith(opened.element);
    pane = opened.element;
    opened.focusComposer();
    await opened.open(focusId);
  };
  const messageSearch = new MessageSearch(api, {
    chatName: (chatId) => {
      const chat = list.chats.get(chatId);
      return chat ? chatTitle(chat, me) : null;
    },
    open: ({ chatId, message }) => openById(chatId, message.id),
  });

  inbox.on(InboxEvent.ChatActivity, ({ chatId, lastMessage, unreadCount }) => {
    const chat = list.chats.get(chatId);
    if (!chat) return void api.getChat(chatId).then((c) => list.apply({ kind: "added", chat: c }), () => {});
    // The room's count as it is. The open chat shows no badge; what it reads goes out as a read marker
    // (never while the tab is hidden) and comes back as `chat_read`.
    list.apply({ kind: "activity", chatId, lastMessage, unreadCount });
    // No notification for a message from someone the user blocks.
    if (lastMessage && !blocks.has(lastMessage.sender.id)) notifications.arrived(chat, lastMessage, list.activeId);
  });
  inbox.on(InboxEvent.ChatAdded, ({ chat }) => list.apply({ kind: "added", chat }));
  inbox.on(InboxEvent.ChatRemoved, ({ chatId }) => list.apply({ kind: "removed", chatId }));
  inbox.on(InboxEvent.ChatRead, ({ chatId, lastReadMessageId, unreadCount }) => list.apply({ kind: "read", chatId, lastReadMessageId, unreadCount }));
  // A fresh list after every (re)connect: the inbox is a hint, the list is the truth.
  inbox.on("state", ({ state, error }) => {
    if (state === "open") void list.load(() => api.listChats()).then((chats) => notifications.known(chats), () => {});
    // Stopped for good because the token was refused (expired or revoked): back to the login.
    if (state === "closed" && error?.code === ErrorCode.Unauthorized) endSession(SESSION_ENDED);
  });

  const error = h("div", { class: "error", role: "status", "data-testid": "app-error" });
  /**
   * The list at start. Only a refused token ends the session (null); anything else (a 503 while a
   * chat's room or D1 cannot answer, no network) keeps it and tries again, 1 s, 2 s, 4 s … at most
   * 30 s apart, saying so: signing the user out for a moment's outage loses nothing but costs a login.
   */
  const loadList = async (): Promise<Chat[] | null> => {
    for (let delay = 1000; !ended; delay = Math.min(delay * 2, 30_000)) {
      try {
        const chats = await list.load(() => api.listChats());
        error.textContent = "";
        return chats;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return null;
        error.textContent = `Your chats could not be loaded (${(err as Error).message}); trying again…`;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    return [];
  };
  const search = h("input", { type: "search", placeholder: "Find a user to chat with", "aria-label": "Find a user to chat with", "data-testid": "user-search" });
  const results = h("div", { class: "results", "data-testid": "user-results" });
  const groupName = h("input", { placeholder: "New group name", maxLength: limits.chatNameMax, "aria-label": "New group name", "data-testid": "group-name" });
  const guard = (fn: () => Promise<unknown>) => () => void fn().catch((err: Error) => (error.textContent = err.message));

  // One search per keystroke: only the newest one's answer is shown, so a late answer to an older
  // prefix never redraws the results under a button that has focus.
  let lastSearch = 0;
  const findUsers = guard(async () => {
    const thisSearch = ++lastSearch;
    const users = search.value.trim() ? await api.searchUsers(search.value.trim()) : [];
    if (thisSearch !== lastSearch) return;
    replace(
      results,
      ...users.map((u) =>
        h("button", { onclick: guard(async () => {
          const chat = await api.createChat({ type: "direct", userId: u.id });
          list.apply({ kind: "added", chat });
          replace(results);
          search.value = "";
          await openChat(chat);
        }) }, `Chat with ${u.username}`),
      ),
    );
  });
  search.addEventListener("input", findUsers);

  replace(
    shell,
    h(
      "aside",
      { class: "sidebar", "aria-label": "Chats" },
      h("header", {}, h("span", { class: "me", "data-testid": "me" }, me.username), h("button", { type: "button", onclick: logOut, "data-testid": "logout" }, "Log out")),
      h(
        "div",
        { class: "tools" },
        search,
        results,
        h("form", { onsubmit: (e) => (e.preventDefault(), guard(async () => {
          const chat = await api.createChat({ type: "group", name: groupName.value, memberIds: [] });
          groupName.value = "";
          list.apply({ kind: "added", chat });
          await openChat(chat);
        })()) }, groupName, h("button", { type: "submit", "data-testid": "create-group" }, "Create")),
        notifications.element,
        error,
      ),
      messageSearch.element,
      list.element,
    ),
    h("main", { class: "pane" }, pane),
  );
  replace(root, shell);
  search.focus();
  // Without the block list (it failed to load) nothing is collapsed; the chats still open.
  const [chats] = await Promise.all([loadList(), blocks.load().catch(() => {})]);
  if (chats === null) return endSession(SESSION_ENDED);
  if (ended) return;
  notifications.known(chats);
  inbox.connect();
  refresher.start();
  notifications.start();
  navigator.serviceWorker?.addEventListener("message", fromWorker);
  window.addEventListener("hashchange", followLink);
  followLink();
}

const session = loadSession();
if (session) void showApp(session);
else showLogin();
