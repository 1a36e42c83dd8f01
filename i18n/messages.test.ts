// The catalogue's completeness (ADR 051): every key exists in every locale (both directions), every
// message is valid ICU, and a message uses the same placeholders and tags in every locale — so a
// page can never show a raw key or an unfilled "{count}" in one language only.
import { describe, expect, it } from "vitest";
import { parse, isPluralElement, isSelectElement, isTagElement, TYPE } from "@formatjs/icu-messageformat-parser";
import type { MessageFormatElement } from "@formatjs/icu-messageformat-parser";
import { DEFAULT_LOCALE, LOCALES } from "@/lib/i18n/locales";
import { flattenMessages, readMessages } from "./messages";

/** "{name}", "{count, plural, …}", "<b>…</b>" → ["arg:name", "arg:count", "tag:b"] (sorted, unique). */
function placeholders(message: string): string[] {
  const found = new Set<string>();
  const walk = (els: MessageFormatElement[]) => {
    for (const el of els) {
      if (el.type === TYPE.literal || el.type === TYPE.pound) continue;
      if (isTagElement(el)) {
        found.add(`tag:${el.value}`);
        walk(el.children);
        continue;
      }
      found.add(`arg:${el.value}`);
      if (isPluralElement(el) || isSelectElement(el))
        for (const option of Object.values(el.options)) walk(option.value);
    }
  };
  walk(parse(message));
  return [...found].sort();
}

const catalogues = new Map(LOCALES.map((l) => [l, flattenMessages(readMessages(l))]));
const base = catalogues.get(DEFAULT_LOCALE)!;

describe("message catalogue", () => {
  it("has messages", () => {
    expect(base.size).toBeGreaterThan(20);
  });

  for (const locale of LOCALES.filter((l) => l !== DEFAULT_LOCALE)) {
    const other = catalogues.get(locale)!;
    it(`${locale} has every ${DEFAULT_LOCALE} key`, () => {
      expect([...base.keys()].filter((k) => !other.has(k))).toEqual([]);
    });
    it(`${DEFAULT_LOCALE} has every ${locale} key`, () => {
      expect([...other.keys()].filter((k) => !base.has(k))).toEqual([]);
    });
    it(`${locale} uses the same placeholders and tags as ${DEFAULT_LOCALE}`, () => {
      const mismatched: string[] = [];
      for (const [key, message] of base) {
        const translated = other.get(key);
        if (translated === undefined) continue;
        const want = placeholders(message).join(",");
        const got = placeholders(translated).join(",");
        if (want !== got) mismatched.push(`${key}: ${DEFAULT_LOCALE} {${want}} ≠ ${locale} {${got}}`);
      }
      expect(mismatched).toEqual([]);
    });
  }

  it.each(LOCALES)("every %s message is valid ICU and not empty", (locale) => {
    const bad: string[] = [];
    for (const [key, message] of catalogues.get(locale)!) {
      try {
        parse(message);
        if (message.trim() === "") bad.push(`${key}: empty`);
      } catch (error) {
        bad.push(`${key}: ${(error as Error).message}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe("placeholders()", () => {
  it("finds arguments, plural/select branches and tags", () => {
    expect(placeholders("Hi {name}, {count, plural, one {# <b>VM</b>} other {# VMs on {host}}}")).toEqual([
      "arg:count",
      "arg:host",
      "arg:name",
      "tag:b",
    ]);
    expect(placeholders("plain")).toEqual([]);
  });
});
