import { describe, expect, it } from "vitest";
import { createFormatter } from "next-intl";
import { byteUnit, localeFormat } from "./format";

const fmt = (locale: string) => localeFormat(createFormatter({ locale, timeZone: "Asia/Shanghai" }));

describe("localeFormat", () => {
  it("picks the binary unit", () => {
    expect(byteUnit(0)).toEqual({ value: 0, unit: "B" });
    expect(byteUnit(1536)).toEqual({ value: 1.5, unit: "KiB" });
    expect(byteUnit(3 * 1024 ** 3).unit).toBe("GiB");
  });
  it("formats sizes with the locale's digits and keeps unit symbols", () => {
    expect(fmt("en").mib(2048)).toBe("2 GiB");
    expect(fmt("en").mib(1536)).toBe("1.5 GiB");
    expect(fmt("en").bytes(1234 * 1024 ** 4)).toBe("1.2 PiB");
    expect(fmt("de").bytes(1536)).toBe("1,5 KiB");
    expect(fmt("zh-CN").mib(512)).toBe("512 MiB");
    expect(fmt("en").number(1234567)).toBe("1,234,567");
  });
  it("formats dates and relative times per locale", () => {
    const d = new Date("2026-12-06T11:20:00Z");
    expect(fmt("zh-CN").date(d)).toBe("2026年12月6日");
    expect(fmt("en").date(d)).toBe("Dec 6, 2026");
    expect(fmt("zh-CN").ago(new Date(d.getTime() - 5 * 60_000), d)).toBe("5分钟前");
    expect(fmt("en").ago(new Date(d.getTime() - 5 * 60_000), d)).toBe("5 minutes ago");
  });
});
