import { describe, expect, it } from "vitest";
import { formatBytes, formatMb, timeAgo } from "./format";

describe("format", () => {
  it.each([
    [0, "0 B"],
    [512, "512 B"],
    [1536, "1.5 KiB"],
    [1024 ** 3, "1.0 GiB"],
  ])("formatBytes(%d)", (n, s) => expect(formatBytes(n)).toBe(s));
  it.each([
    [512, "512 MiB"],
    [1024, "1 GiB"],
    [1536, "1.5 GiB"],
  ])("formatMb(%d)", (n, s) => expect(formatMb(n)).toBe(s));
  it("timeAgo", () => {
    const now = Date.parse("2026-01-01T00:10:00Z");
    expect(timeAgo("2026-01-01T00:09:58Z", now)).toBe("just now");
    expect(timeAgo("2026-01-01T00:09:00Z", now)).toBe("1m ago");
    expect(timeAgo(null, now)).toBe("never");
  });
});
