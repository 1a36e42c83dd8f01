// Locale-aware formatting of what the console shows (ADR 051): byte sizes in binary units
// (units stay as symbols: KiB, MiB, GiB — the same in every language), numbers, dates and relative
// times through next-intl's formatter (Intl), so 1234.5 is "1,234.5" in en and zh-CN alike but a
// date reads "2026年12月6日 19:20:00" in zh-CN.
//   client or non-async server component:  const f = useLocaleFormat();             f.mib(2048) → "2 GiB"
//   async server component:                const f = localeFormat(await getFormatter());
import { useFormatter } from "next-intl";

type Formatter = ReturnType<typeof useFormatter>;
type DateInput = string | number | Date;

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;
const MIB = 1024 * 1024;

/** The binary unit a size is shown in, and the value in that unit. */
export function byteUnit(bytes: number): { value: number; unit: (typeof UNITS)[number] } {
  if (!Number.isFinite(bytes) || bytes <= 0) return { value: 0, unit: "B" };
  const i = Math.min(UNITS.length - 1, Math.floor(Math.log(bytes) / Math.log(1024)));
  return { value: bytes / 1024 ** i, unit: UNITS[i] ?? "B" };
}

export function localeFormat(format: Formatter) {
  const toDate = (v: DateInput) => (v instanceof Date ? v : new Date(v));
  const bytes = (n: number) => {
    const { value, unit } = byteUnit(n);
    // Whole bytes, otherwise at most one decimal (2 GiB, 1.5 GiB) in the locale's digits and separators.
    return `${format.number(value, { maximumFractionDigits: unit === "B" ? 0 : 1 })} ${unit}`;
  };
  return {
    number: (n: number) => format.number(n),
    percent: (fraction: number) => format.number(fraction, { style: "percent", maximumFractionDigits: 0 }),
    bytes,
    /** A size given in MiB (the unit memory and disks are stored in). */
    mib: (mib: number) => bytes(mib * MIB),
    /** Date and time, medium length, in the configured time zone. */
    dateTime: (v: DateInput) => format.dateTime(toDate(v), { dateStyle: "medium", timeStyle: "medium" }),
    date: (v: DateInput) => format.dateTime(toDate(v), { dateStyle: "medium" }),
    /** "5 minutes ago" / "5分钟前", against `now` (pass one when rendering on server and client alike). */
    ago: (v: DateInput, now: DateInput = Date.now()) => format.relativeTime(toDate(v), toDate(now)),
  };
}

export type LocaleFormat = ReturnType<typeof localeFormat>;

/** The formatter for the current request's or page's locale (a React hook). */
export function useLocaleFormat(): LocaleFormat {
  return localeFormat(useFormatter());
}
