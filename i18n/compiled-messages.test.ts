// Precompiled messages (i18n/messages.ts compileMessages, issue 16) format exactly as the catalogue's
// source text does: every message of every locale, through icu-minify's format-only runtime (what
// next.config.mjs aliases use-intl's formatter to) and through next-intl's full ICU formatter, with
// values that take every plural and select branch and wrap every tag.
import { describe, expect, it } from "vitest";
import { createTranslator } from "next-intl";
import format from "icu-minify/format";
import { parse, isPluralElement, isSelectElement, isTagElement, TYPE } from "@formatjs/icu-messageformat-parser";
import type { MessageFormatElement } from "@formatjs/icu-messageformat-parser";
import { LOCALES } from "@/lib/i18n/locales";
import { compileMessages, flattenMessages, readMessages, type MessageTree } from "./messages";

type Values = Record<string, string | number | Date | ((chunks: string[]) => string)>;

/** Value sets for a message: one per plural/select branch (and 0, 1, 2, 5 for counts), tags as wrappers. */
function valueSets(message: string): Values[] {
  const base: Values = {};
  const variants: Array<[string, Array<string | number>]> = [];
  const walk = (els: MessageFormatElement[]) => {
    for (const el of els) {
      if (el.type === TYPE.literal || el.type === TYPE.pound) continue;
      if (isTagElement(el)) {
        base[el.value] = (chunks: string[]) => `[${el.value}:${chunks.join("")}]`;
        walk(el.children);
      } else if (isPluralElement(el)) {
        base[el.value] = 3; // a count, also where {n} shows it as is
        variants.push([el.value, [0, 1, 2, 5, 21]]);
        Object.values(el.options).forEach((o) => walk(o.value));
      } else if (isSelectElement(el)) {
        base[el.value] ??= "zzz-other";
        variants.push([el.value, Object.keys(el.options).filter((k) => k !== "other")]);
        Object.values(el.options).forEach((o) => walk(o.value));
      } else if (el.type === TYPE.number) base[el.value] = 1234.5;
      else if (el.type === TYPE.date || el.type === TYPE.time) base[el.value] = new Date(Date.UTC(2026, 11, 7, 6, 5));
      else base[el.value] ??= `<${el.value}>`;
    }
  };
  walk(parse(message));
  const sets: Values[] = [base];
  for (const [name, options] of variants) for (const option of options) sets.push({ ...base, [name]: option });
  return sets;
}

const formatters = {
  getDateTimeFormat: (...a: ConstructorParameters<typeof Intl.DateTimeFormat>) => new Intl.DateTimeFormat(...a),
  getNumberFormat: (...a: ConstructorParameters<typeof Intl.NumberFormat>) => new Intl.NumberFormat(...a),
  getPluralRules: (...a: ConstructorParameters<typeof Intl.PluralRules>) => new Intl.PluralRules(...a),
};

describe.each(LOCALES)("compiled %s messages", (locale) => {
  const raw = readMessages(locale);
  const compiled = compileMessages(raw);
  const t = createTranslator({ locale, messages: raw as Record<string, unknown>, timeZone: "UTC" });

  it("format exactly as their source with every branch and tag", () => {
    let formats = 0;
    for (const [key, source] of flattenMessages(raw)) {
      const message = key.split(".").reduce<unknown>((node, part) => (node as MessageTree)[part], compiled);
      for (const values of valueSets(source)) {
        const hasTags = Object.values(values).some((v) => typeof v === "function");
        const expected = hasTags ? t.markup(key as never, values as never) : t(key as never, values as never);
        const got = format(message as Parameters<typeof format>[0], locale, values as never, {
          formatters,
          timeZone: "UTC",
        });
        const text = Array.isArray(got) ? got.join("") : String(got);
        expect(text, `${locale} ${key} ${JSON.stringify(values)}`).toBe(expected);
        formats++;
      }
    }
    expect(formats).toBeGreaterThan(1000);
  });
});
