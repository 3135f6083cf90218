import { describe, expect, it } from "vitest";
import { Pipe } from "./pipe";

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("Pipe", () => {
  it("sends what one turn pushed in one call, and what is pushed meanwhile in the next, in order", async () => {
    const calls: number[][] = [];
    let release!: () => void;
    const pipe = new Pipe<number>(
      async (items) => {
        calls.push(items);
        if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      () => null,
    );
    pipe.push(1);
    pipe.push(2);
    await tick();
    pipe.push(3);
    pipe.push(4);
    expect(calls).toEqual([[1, 2]]);
    const idle = pipe.idle();
    release();
    await idle;
    expect(calls).toEqual([[1, 2], [3, 4]]);
    expect(pipe.busy).toBe(false);
  });

  it("splits a long queue into calls of at most perCall items, in order", async () => {
    const calls: number[][] = [];
    const pipe = new Pipe<number>(async (items) => void calls.push(items), () => null, 2);
    for (let i = 1; i <= 5; i++) pipe.push(i);
    await pipe.idle();
    expect(calls).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("hands a failed call's items back, retries after the wait asked (even with nothing new), and stops on null", async () => {
    const calls: number[][] = [];
    const failures: number[][] = [];
    let fail = 2;
    const pipe = new Pipe<number>(
      async (items) => {
        calls.push(items);
        if (fail-- > 0) throw new Error("unreachable");
      },
      (items) => (failures.push(items), 0),
    );
    pipe.push(1);
    await pipe.idle();
    expect(failures).toEqual([[1], []]);
    expect(calls).toEqual([[1], [], []]);

    const stopped = new Pipe<number>(
      async () => {
        throw new Error("down");
      },
      () => null,
    );
    stopped.push(5);
    await stopped.idle();
    expect(stopped.busy).toBe(false);
  });
});
