/** Reports (issue 29): a member reports a message; a group's admins, and nobody else, read them. */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Report } from "../../src/protocol/models";
import { api, connect, createGroup, register, type TestUser } from "./helpers";

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

  it("a new report reaches the admins' open sockets at once as report_filed, and nobody else's; the same reporter again sends nothing", async () => {
    const [ann, bob, cid, dan] = await Promise.all([register("lann"), register("lbob"), register("lcid"), register("ldan")]);
    const group = await createGroup(ann, [bob, cid, dan]);
    await api("PATCH", `/api/chats/${group.id}/members/${dan.user.id}`, { token: ann.token, body: { role: "admin" } });
    const m = (await api("POST", `/api/chats/${group.id}/messages`, { token: cid.token, body: { content: "rude" } })).body;
    const [a1, a2, b, c, d] = await Promise.all([connect(group.id, ann.token), connect(group.id, ann.token), connect(group.id, bob.token), connect(group.id, cid.token), connect(group.id, dan.token)]);

    expect((await report(bob, group.id, m.id, "insults")).status).toBe(202);
    const listed = (await reports(ann, group.id)).body.reports as Report[];
    for (const admin of [a1, a2, d]) expect(await admin.next(ServerEvent.ReportFiled)).toEqual({ chatId: group.id, report: listed[0] });
    // Again by the same reporter: one report, nothing new to tell.
    expect((await report(bob, group.id, m.id, "said it twice")).status).toBe(202);
    expect((await report(dan, group.id, m.id, "agreed")).status).toBe(202);
    expect((await d.next(ServerEvent.ReportFiled, 2)).report.reporter.id).toBe(dan.user.id);
    // Each socket's next answer comes after anything the room sent it before.
    for (const s of [a1, a2, b, c, d]) s.sendJson(ClientEvent.JoinChat, { chatId: group.id });
    for (const s of [a1, a2, b, c, d]) await s.next(ServerEvent.JoinedChat, 2);
    expect([a1, a2, d].map((s) => s.of(ServerEvent.ReportFiled).map((f) => f.report.reporter.id))).toEqual([
      [bob.user.id, dan.user.id],
      [bob.user.id, dan.user.id],
      [bob.user.id, dan.user.id],
    ]);
    for (const s of [b, c]) expect(s.of(ServerEvent.ReportFiled)).toEqual([]);
    for (const s of [a1, a2, b, c, d]) s.close();
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
