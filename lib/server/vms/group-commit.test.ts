import { describe, expect, it } from "vitest";
import { GroupCommit } from "./group-commit";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe("GroupCommit", () => {
  it("a lone item is written at once; items that come during a write share the next one", async () => {
    const writes: number[][] = [];
    let release: () => void = () => {};
    const gc = new GroupCommit<number>({
      everyMs: 0,
      maxBatch: 100,
      write: async (items) => {
        writes.push(items);
        await new Promise<void>((r) => (release = r));
      },
    });
    const first = gc.add(1);
    await tick();
    expect(writes).toEqual([[1]]);
    const later = [gc.add(2), gc.add(3), gc.add(4)];
    await tick();
    expect(writes).toHaveLength(1); // one write at a time
    expect(gc.pending).toBe(3);
    release();
    await first;
    await tick();
    expect(writes).toEqual([[1], [2, 3, 4]]);
    release();
    await Promise.all(later);
  });

  it("writes at most once per everyMs, unless a batch is full", async () => {
    const writes: number[][] = [];
    let now = 1_000;
    const gc = new GroupCommit<number>({
      everyMs: 50,
      maxBatch: 3,
      now: () => now,
      write: async (i) => void writes.push(i),
    });
    await gc.add(1);
    const waiting = [gc.add(2), gc.add(3)];
    await tick(10);
    expect(writes).toEqual([[1]]); // the 50 ms since the last write are not over
    now += 50;
    await Promise.all(waiting);
    expect(writes).toEqual([[1], [2, 3]]);
    const full = [gc.add(4), gc.add(5), gc.add(6)];
    await Promise.all(full); // full: written without waiting (the fake clock does not move)
    expect(writes.at(-1)).toEqual([4, 5, 6]);
  });

  it("a failed write fails every item in it, and the next batch is written again", async () => {
    let fail = true;
    const gc = new GroupCommit<string>({
      everyMs: 0,
      maxBatch: 10,
      write: async () => {
        if (fail) throw new Error("database down");
      },
    });
    const a = gc.add("a");
    const b = gc.add("b");
    await expect(a).rejects.toThrow("database down");
    await expect(b).rejects.toThrow("database down");
    fail = false;
    await expect(gc.add("c")).resolves.toBeUndefined();
  });

  it("a grouped read answers each caller with its own result, in the order they came", async () => {
    const reads: string[][] = [];
    let release: () => void = () => {};
    const gr = new GroupCommit<string, string>({
      everyMs: 0,
      maxBatch: 100,
      write: async (keys) => {
        reads.push(keys);
        await new Promise<void>((r) => (release = r));
        return keys.map((k) => k.toUpperCase());
      },
    });
    const first = gr.add("a");
    await tick();
    const later = [gr.add("b"), gr.add("c"), gr.add("b")];
    release();
    expect(await first).toBe("A");
    await tick();
    release();
    expect(await Promise.all(later)).toEqual(["B", "C", "B"]);
    expect(reads).toEqual([["a"], ["b", "c", "b"]]);
  });
});
