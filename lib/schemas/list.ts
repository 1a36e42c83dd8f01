// Query parameters shared by every list (UI and JSON API): pagination, sorting, filters.
import { z } from "zod";
import { archErrorMessage, normalizeArch } from "../arch";

export const MAX_PAGE_SIZE = 200;

const archFilter = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === "" || value === "all") return undefined;
    const arch = normalizeArch(value);
    if (!arch) {
      ctx.addIssue({ code: "custom", message: archErrorMessage(value) });
      return z.NEVER;
    }
    return arch;
  });

export function listQuerySchema<S extends readonly [string, ...string[]], St extends readonly [string, ...string[]]>(
  sortFields: S,
  statuses: St,
) {
  return z.object({
    page: z.coerce.number().int().min(1, "page starts at 1").max(1_000_000).default(1),
    pageSize: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE, `pageSize is at most ${MAX_PAGE_SIZE}`).default(25),
    sort: z.enum(sortFields, { error: `sort must be one of: ${sortFields.join(", ")}` }).default(sortFields[0]),
    dir: z.enum(["asc", "desc"], { error: "dir must be asc or desc" }).default("asc"),
    arch: archFilter,
    status: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined || v === "" || v === "all") return undefined;
        if (!(statuses as readonly string[]).includes(v)) {
          ctx.addIssue({ code: "custom", message: `status must be one of: ${statuses.join(", ")}` });
          return z.NEVER;
        }
        return v as St[number];
      }),
    q: z.string().trim().max(100, "search is at most 100 characters").optional(),
  });
}

export type ListResult<T> = { items: T[]; total: number; page: number; pageSize: number };

/** URLSearchParams → plain object for zod, keeping only the first value of each key. */
export function searchParamsToObject(params: URLSearchParams | Record<string, string | string[] | undefined>) {
  const out: Record<string, string> = {};
  if (params instanceof URLSearchParams) {
    for (const [k, v] of params) if (!(k in out)) out[k] = v;
  } else {
    for (const [k, v] of Object.entries(params)) {
      const first = Array.isArray(v) ? v[0] : v;
      if (first !== undefined) out[k] = first;
    }
  }
  return out;
}
