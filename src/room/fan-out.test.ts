import { describe, expect, it } from "vitest";
import { FanOut, joinFrames } from "./fan-out";

/** A socket that records what it was sent; `batched`: opened with `frames=batched`. */
function socket(name: string, batched = false) {
  const sent: string[] = [];
  return { name, batched, sent, send: (frame: string) => void sent.push(frame) } as unknown as WebSocket & { name: string; batched: boolean; sent: string[] };
}

type Fake = ReturnType<typeof socket>;

/** A room with its own sockets (by user, from the name's first letter) and a record of what went elsewhere. */
function room(...sockets: Fake[]) {
  const elsewhere: string[] = [];
  const out = new FanOut({
    sockets: () => sockets,
    userSockets: (userId) => sockets.filter((s) => s.name.charCodeAt(0) === userId),
    batched: (ws) => (ws as Fake).batched,
    elsewhere: (frame, except) => void elsewhere.push(`${frame}${except.user !== undefined ? ` but user ${except.user}` : ""}`),
  });
  return Object.assign(out, { elsewhere });
}

const f = (n: number) => JSON.stringify({ event: "e", data: { n } });

describe("joinFrames", () => {
  it("leaves one frame bare and joins a run into one JSON array", () => {
    expect(joinFrames([f(1)])).toEqual([f(1)]);
    const [joined] = joinFrames([f(1), f(2), f(3)]);
    expect(JSON.parse(joined!)).toEqual([1, 2, 3].map((n) => ({ event: "e", data: { n } })));
  });

  it("splits a run that would pass the size bound, keeping the order, and never splits a frame", () => {
    const frames = Array.from({ length: 10 }, (_, i) => f(i));
    const bound = f(0).length * 3 + 3;
    const joined = joinFrames(frames, bound);
    expect(joined.length).toBe(4);
    expect(joined.flatMap((j) => (j.startsWith("[") ? JSON.parse(j) : [JSON.parse(j)])).map((e: { data: { n: number } }) => e.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A frame longer than the bound goes alone.
    expect(joinFrames(["x".repeat(50), f(1)], 10)).toEqual(["x".repeat(50), f(1)]);
  });
});

describe("FanOut", () => {
  it("sends at once outside a gathering, one frame per socket", () => {
    const a = socket("a", true), b = socket("b");
    const out = room(a, b);
    out.all(f(1), { socket: a });
    out.to(a, f(2));
    expect(a.sent).toEqual([f(2)]);
    expect(b.sent).toEqual([f(1)]);
  });

  it("gives each socket its share of a gathering in order: joined for sockets that batch, one by one for the rest", () => {
    const sender = socket("sender", true), batched = socket("batched", true), plain = socket("plain");
    const out = room(sender, batched, plain);
    const ack = (n: number) => JSON.stringify({ event: "ack", data: { n } });
    out.gather(() => {
      for (let n = 1; n <= 3; n++) {
        out.to(sender, ack(n));
        out.all(f(n), { socket: sender });
      }
      out.all(f(4));
      // Nothing leaves before the gathering ends.
      expect([...sender.sent, ...batched.sent, ...plain.sent]).toEqual([]);
    });
    expect(sender.sent).toEqual([`[${[ack(1), ack(2), ack(3), f(4)].join(",")}]`]);
    expect(batched.sent).toEqual([`[${[f(1), f(2), f(3), f(4)].join(",")}]`]);
    expect(plain.sent).toEqual([f(1), f(2), f(3), f(4)]);
  });

  it("sends what was gathered even when the gathering throws, and a nested gathering joins the outer one", () => {
    const a = socket("a", true);
    const out = room(a);
    expect(() =>
      out.gather(() => {
        out.all(f(1));
        out.gather(() => out.all(f(2)));
        expect(a.sent).toEqual([]);
        throw new Error("store failed");
      }),
    ).toThrow("store failed");
    expect(a.sent).toEqual([`[${f(1)},${f(2)}]`]);
  });

  it("leaves out every socket of a user, and sends frames for all and for one remote socket elsewhere in their order", () => {
    const a1 = socket("a1", true), a2 = socket("a2", true), b = socket("b", true);
    const out = room(a1, a2, b);
    // A stand-in for a socket on a shard: what it is sent joins the same stream as frames for all.
    const remote = { send: (frame: string) => void out.elsewhere.push(`to remote ${frame}`) } as unknown as WebSocket;
    const ack = JSON.stringify({ event: "ack", data: {} });
    out.gather(() => {
      out.all(f(1), { user: "a".charCodeAt(0) });
      out.to(remote, ack);
      out.all(f(2));
    });
    expect(a1.sent).toEqual([f(2)]);
    expect(a2.sent).toEqual([f(2)]);
    expect(b.sent).toEqual([`[${f(1)},${f(2)}]`]);
    expect(out.elsewhere).toEqual([`${f(1)} but user ${"a".charCodeAt(0)}`, `to remote ${ack}`, f(2)]);
  });

  it("skips a socket whose send throws (closing) and goes on with the others", () => {
    const closing = { send: () => { throw new Error("closed"); } } as unknown as WebSocket;
    const b = socket("b", true);
    const out = new FanOut({ sockets: () => [closing, b], userSockets: () => [], batched: () => true, elsewhere: () => {} });
    out.gather(() => (out.all(f(1)), out.all(f(2))));
    expect(b.sent).toEqual([`[${f(1)},${f(2)}]`]);
  });
});
