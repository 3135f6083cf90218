/** Reports (issue 29): a member reports a message; a group's admins, and nobody else, read them. */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import type { Report } from "../../src/protocol/models";
import { api, createGroup, register, type TestUser } from "./helpers";

const report = (by: TestUser, chatId: number, messageId: number, reason: unknown) =>
  api("POST", `/api/chats/${chatId}/messages/${messageId}/report`, { token: by.token, body: { reason } });
const reports = (by: TestUser, chatId: number, query = "") => api("GET", `/api/chats/${chatId}/reports${query}`, { token: by.token });

describe("reports", () => {
  it("a member reports (202; again 202, one kept); the group's admins read them newest first with the message as it is now; others 403", async () => {
    const [ann, bob, cid, eve] = await Promise.all([register("rann"), register("rbob"), register("rcid"), register("reve")]);
    const group = await createGroup(ann, [bob, cid]);
    const first = (await api("POST", `/api/chats/${group.id}/messages`, { token: cid.token, body: { content: "rude" } })).body;
    const second = (await api("POST", `/api/chats/${group.id}/messages`, { token: cid.token, body: { content: "ruder" } })).body;

    expect((await report(bob, group.id, first.id, "insults")).status).toBe(202);
    expect((await report(bob, group.id, first.id, "said it twice")).status).toBe(202);
    expect((await report(ann, group.id, second.id, "also rude")).status).toBe(202);
    await api("PATCH", `/api/chats/${group.id}/messages/${second.id}`, { token: cid.token, body: { content: "ruder, edited" } });

    const seen = await reports(ann, group.id);
    expect(seen.status).toBe(200);
    const list = seen.body.reports as Report[];
    expect(list.map((r) => [r.message.id, r.reporter.id, r.reason])).toEqual([
      [second.id, ann.user.id, "also rude"],
      [first.id, bob.user.id, "insults"],
    ]);
    expect(list[0]!.message.content).toBe("ruder, edited");
    expect(list[0]!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(list[0]!.reporter).toEqual({ id: ann.user.id, username: ann.user.username });
    expect(seen.body.hasMore).toBe(false);
    // Paging: one at a time.
    const page = await reports(ann, group.id, "?limit=1");
    expect(page.body.reports.map((r: Report) => r.id)).toEqual([list[0]!.id]);
    expect(page.body.hasMore).toBe(true);
    expect((await reports(ann, group.id, `?limit=1&before=${list[0]!.id}`)).body.reports.map((r: Report) => r.id)).toEqual([list[1]!.id]);

    for (const who of [bob, cid]) {
      const refused = await reports(who, group.id);
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe(ErrorCode.Forbidden);
    }
    expect((await reports(eve, group.id)).status).toBe(403);
    // A member made admin sees them from then on.
    await api("PATCH", `/api/chats/${group.id}/members/${bob.user.id}`, { token: ann.token, body: { role: "admin" } });
    expect((await reports(bob, group.id)).body.reports).toHaveLength(2);
  });

  it("errors: non-member 403, no such message 404, no such chat 404, a reason empty or over 500 characters 400, a deleted message 410; in a direct chat nobody reads them", async () => {
    const [ann, bob, eve] = await Promise.all([register("eann"), register("ebob"), register("eeve")]);
    const group = await createGroup(ann, [bob]);
    const m = (await api("POST", `/api/chats/${group.id}/messages`, { token: bob.token, body: { content: "x" } })).body;
    expect((await report(eve, group.id, m.id, "why")).status).toBe(403);
    expect((await report(ann, group.id, 999_999, "why")).status).toBe(404);
    expect((await report(ann, 999_999_999, m.id, "why")).status).toBe(404);
    for (const reason of ["", "   ", "x".repeat(501), 5, undefined]) {
      const res = await report(ann, group.id, m.id, reason);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe(ErrorCode.BadRequest);
    }
    expect((await report(ann, group.id, m.id, "x".repeat(500))).status).toBe(202);
    await api("DELETE", `/api/chats/${group.id}/messages/${m.id}`, { token: bob.token });
    const gone = await report(ann, group.id, m.id, "too late");
    expect(gone.status).toBe(410);
    expect(gone.body.code).toBe(ErrorCode.Gone);
    expect((await reports(ann, group.id, "?limit=0")).status).toBe(400);

    const dm = (await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: bob.user.id } })).body;
    const dmMessage = (await api("POST", `/api/chats/${dm.id}/messages`, { token: bob.token, body: { content: "y" } })).body;
    expect((await report(ann, dm.id, dmMessage.id, "spam")).status).toBe(202);
    expect((await reports(ann, dm.id)).status).toBe(403);
  });
});
