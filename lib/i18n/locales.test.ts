import { describe, expect, it } from "vitest";
import { isLocale, matchAcceptLanguage, setLocaleSchema } from "./locales";

describe("matchAcceptLanguage", () => {
  it.each([
    [null, "en"],
    ["", "en"],
    ["zh-CN", "zh-CN"],
    ["zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"],
    ["zh", "zh-CN"],
    ["zh-Hans-CN", "zh-CN"],
    ["en-US,en;q=0.9", "en"],
    ["en-GB", "en"],
    // q-values, not the order written, decide
    ["en;q=0.3, zh-CN;q=0.9", "zh-CN"],
    ["zh-CN;q=0.2, en;q=0.8", "en"],
    ["fr-FR, de;q=0.9", "en"],
    ["fr-FR, zh;q=0.5", "zh-CN"],
    ["*", "en"],
    ["not a tag!!, zh-CN;q=0.1", "zh-CN"],
  ])("%j → %s", (header, want) => {
    expect(matchAcceptLanguage(header)).toBe(want);
  });
});

describe("the locale schema", () => {
  it("accepts only the console's languages", () => {
    expect(isLocale("zh-CN")).toBe(true);
    expect(isLocale("zh")).toBe(false);
    expect(setLocaleSchema.safeParse({ locale: "en" }).success).toBe(true);
    expect(setLocaleSchema.safeParse({ locale: "fr" }).success).toBe(false);
    // strict: a user id in the body is refused, not ignored
    expect(setLocaleSchema.safeParse({ locale: "en", userId: "u1" }).success).toBe(false);
  });
});
