import { describe, expect, it } from "vitest";
import { api, connect, createGroup, register } from "./helpers";

describe("smoke", () => {
  it("registers, creates a group, chats over a socket and pages history", async () => {
    const ann = await register("ann");
    const bob = await register("bob");
    const chat = await createGroup(ann, [bob]);
    expect(chat.members.map((m) => m.role)).toEqual(["admin", "member"]);
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    a.sendJson("send_message", { content: "hello", clientId: "c1" });
    const ack = await a.next("message_sent");
    const got = await b.next("receive_message");
    expect(got.id).toBe(ack.messageId);
    expect(got.content).toBe("hello");
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token });
    expect(history.body.messages.map((m: { id: number }) => m.id)).toEqual([ack.messageId]);
    a.close();
    b.close();
  });
});
