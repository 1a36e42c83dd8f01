import { describe, expect, it } from "vitest";
import { binaryStringBytes, isTerminalReply, TerminalFeed, type TerminalChunk } from "./serial-terminal-feed";

function recorder() {
  const log: string[] = [];
  const sink = {
    reset: () => log.push("reset"),
    write: (d: TerminalChunk, replay: boolean) =>
      log.push(`${replay ? "replay" : "live"}:${typeof d === "string" ? d : new TextDecoder().decode(d)}`),
  };
  return { log, sink };
}

describe("TerminalFeed", () => {
  it("holds output until the terminal attaches, then hands it over in order; the first chunk of a connection is the replay", () => {
    const feed = new TerminalFeed();
    feed.reset();
    feed.write(new TextEncoder().encode("scrollback"));
    feed.write("live");
    const { log, sink } = recorder();
    feed.attach(sink);
    feed.write("more");
    expect(log).toEqual(["reset", "replay:scrollback", "live:live", "live:more"]);
  });

  it("a new connection clears the screen and what was held, and marks its first chunk as the replay", () => {
    const feed = new TerminalFeed();
    feed.reset();
    feed.write("old");
    feed.reset();
    feed.write("new scrollback");
    const { log, sink } = recorder();
    feed.attach(sink);
    feed.reset();
    feed.write("again");
    feed.write("typed");
    expect(log).toEqual(["reset", "replay:new scrollback", "reset", "replay:again", "live:typed"]);
  });

  it("drops the oldest held output beyond its bound but keeps the newest chunk", () => {
    const feed = new TerminalFeed(8);
    feed.write("aaaa");
    feed.write("bbbb");
    feed.write("cccc");
    feed.write("dddddddddd");
    const { log, sink } = recorder();
    feed.attach(sink);
    expect(log).toEqual(["reset", "live:dddddddddd"]);
  });

  it("writes nothing to a detached terminal and holds again", () => {
    const feed = new TerminalFeed();
    const a = recorder();
    const detach = feed.attach(a.sink);
    detach();
    feed.write("x");
    expect(a.log).toEqual(["reset"]);
    const b = recorder();
    feed.attach(b.sink);
    expect(b.log).toEqual(["reset", "live:x"]);
  });
});

describe("isTerminalReply", () => {
  it("recognises the emulator's answers to queries", () => {
    for (const r of [
      "\x1b[24;5R",
      "\x1b[?1;2c",
      "\x1b[>0;276;0c",
      "\x1b[0n",
      "\x1bP1$r0m\x1b\\",
      "\x1b]11;rgb:0/0/0\x07",
    ])
      expect(isTerminalReply(r), JSON.stringify(r)).toBe(true);
  });
  it("lets keys through: letters, Enter, arrows, Tab, Ctrl-C, Esc, function keys", () => {
    for (const k of ["a", "\r", "\x1b[A", "\x1bOB", "\t", "\x03", "\x1b", "\x1b[15~", "\x1b[5~", "echo hi\r"])
      expect(isTerminalReply(k), JSON.stringify(k)).toBe(false);
  });
});

it("binaryStringBytes keeps one byte per character", () => {
  expect([...binaryStringBytes("\x1b[M \xff!")]).toEqual([0x1b, 0x5b, 0x4d, 0x20, 0xff, 0x21]);
});
