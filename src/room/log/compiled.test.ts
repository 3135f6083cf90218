/**
 * A write compiled once and bound by position stores what Drizzle's own insert of the same values
 * stores, JSON columns included, and the log's multi-row inserts built on it keep every row.
 */
import { runInDurableObject } from "cloudflare:test";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { roomStub, twoInAChat } from "../../../test/workers/helpers";
import type { ChatRoom } from "../chat-room";
import { compileWrite } from "./compiled";
import type { MessageLog } from "./messages";
import type { LogDatabase } from "./open";
import { logMessages, type LogMessageRow } from "./schema";

type Inside = { store: LogDatabase; log: MessageLog };
const inside = (room: ChatRoom) => room as unknown as Inside;

const files = [{ id: "1-AAAAAAAAAAAAAAAAAAAAAA", name: "a.png", contentType: "image/png", size: 3 }];

describe("compileWrite", () => {
  it("stores what Drizzle's insert stores, reading each placeholder from the input", async () => {
    const { chat, a, b } = await twoInAChat("cw", "cx");
    a.close();
    b.close();
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const { store } = inside(room);
      const p = sql.placeholder;
      const base = { senderId: 7, senderName: "ann", clientId: null, createdAt: 1_700_000_000_000, replyToId: null };
      const insert = compileWrite(
        store,
        store.insert(logMessages).values({ ...base, id: p("id"), content: p("content"), attachments: p("attachments") } as never),
        (name) => (input: Pick<LogMessageRow, "id" | "content" | "attachments">) => input[name as "id" | "content" | "attachments"],
      );
      insert({ id: 9001, content: "with files", attachments: files });
      insert({ id: 9002, content: "plain", attachments: null });
      store.insert(logMessages).values({ ...base, id: 9003, content: "with files", attachments: files }).run();
      store.insert(logMessages).values({ ...base, id: 9004, content: "plain", attachments: null }).run();

      const read = (id: number) => {
        const { id: _, ...row } = store.select().from(logMessages).where(eq(logMessages.id, id)).get()!;
        return row;
      };
      expect(read(9001)).toEqual(read(9003));
      expect(read(9002)).toEqual(read(9004));
      expect(read(9001).attachments).toEqual(files);
      // A null is SQL NULL, not the text "null".
      const kind = store.get<{ kind: string }>(sql`SELECT typeof(attachments) AS kind FROM ${logMessages} WHERE id = 9002`);
      expect(kind.kind).toBe("null");
    });
  });

  it("writes a group larger than one statement takes, every row in order, in the log's multi-row inserts", async () => {
    const { chat, ann, a, b } = await twoInAChat("cy", "cz");
    a.close();
    b.close();
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const { log } = inside(room);
      const sender = { id: ann.user.id, username: ann.user.username };
      // 13 drafts: one statement of 12 rows and one of 1 (Durable Object SQL binds at most 100 values).
      const drafts = Array.from({ length: 13 }, (_, i) => ({
        sender,
        content: `m${i}`,
        clientId: `k${i}`,
        createdAt: 1_700_000_000_000 + i,
        ...(i === 12 ? { attachments: files } : {}),
      }));
      const stored = log.appendAll(drafts);
      expect(stored.map((m) => m.content)).toEqual(drafts.map((d) => d.content));
      const page = log.page({ after: stored[0]!.id - 1, limit: 20 });
      expect(page.messages.map((m) => [m.id, m.content])).toEqual(stored.map((m, i) => [m.id, `m${i}`]));
      // The clientIds were stored with their rows: a resend finds each.
      expect(drafts.map((d) => log.byClient(sender.id, d.clientId, d.createdAt)?.id)).toEqual(stored.map((m) => m.id));
      expect(page.messages.at(-1)!.attachments?.map((f) => f.id)).toEqual([files[0]!.id]);
      expect(page.messages[0]!.attachments).toEqual([]);
    });
  });
});
