import { describe, expect, it } from "vitest";
import { applyTerminalText } from "./terminal-text";

describe("applyTerminalText", () => {
  it("strips colours, cursor moves and titles; CR LF -> LF; backspace erases", () => {
    expect(applyTerminalText("", "\x1b[1;32mok\x1b[0m\r\n\x1b]0;title\x07ab\b\bxy\x1b[K\x07").text).toBe("ok\nxy");
  });
  it("keeps an escape split across chunks for the next chunk", () => {
    const a = applyTerminalText("", "red:\x1b[3");
    expect(a).toEqual({ text: "red:", rest: "\x1b[3" });
    expect(applyTerminalText(a.text, a.rest + "1mX").text).toBe("red:X");
  });
  it("keeps only the newest characters", () => {
    expect(applyTerminalText("abc", "def", 4).text).toBe("cdef");
  });
});
