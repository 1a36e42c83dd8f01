// dirWaker: a new file in the directory (QEMU binding its QMP socket) ends a wait long before its timer.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dirWaker } from "./dir-waker";

describe("dirWaker", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pa-waker-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  // A wait of an hour that returns proves the event (not the timer) ended it.
  const HOUR = 3_600_000;

  it("wakes when a unix socket is bound in the directory", async () => {
    const w = dirWaker(dir, "qmp.sock");
    const server = net.createServer();
    try {
      const waiting = w.wait(HOUR);
      await new Promise<void>((resolve) => server.listen(path.join(dir, "qmp.sock"), resolve));
      await waiting;
    } finally {
      w.close();
      server.close();
    }
  });

  it("keeps a change that happens between two waits for the next one", async () => {
    const w = dirWaker(dir);
    try {
      writeFileSync(path.join(dir, "early"), "");
      await new Promise((r) => setTimeout(r, 50)); // the inotify event arrives while nobody waits
      await w.wait(HOUR);
    } finally {
      w.close();
    }
  });

  it("with a name, other files in the directory do not wake it", async () => {
    const w = dirWaker(dir, "qmp.sock");
    try {
      writeFileSync(path.join(dir, "qemu.log"), "x");
      await new Promise((r) => setTimeout(r, 50));
      let woken = false;
      const waiting = w.wait(HOUR).then(() => (woken = true));
      writeFileSync(path.join(dir, "qemu.pid"), "1");
      await new Promise((r) => setTimeout(r, 100));
      expect(woken).toBe(false);
      writeFileSync(path.join(dir, "qmp.sock"), "");
      await waiting;
    } finally {
      w.close();
    }
  });

  it("wake() and close() end a pending wait; the timer ends one with no change", async () => {
    const w = dirWaker(dir);
    const a = w.wait(HOUR);
    w.wake();
    await a;
    await w.wait(1);
    const b = w.wait(HOUR);
    w.close();
    await b;
  });

  it("still times out where the directory cannot be watched", async () => {
    const w = dirWaker(path.join(dir, "missing"));
    await w.wait(1);
    w.close();
  });
});
