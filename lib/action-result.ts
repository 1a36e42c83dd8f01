// Type-only module so client components can name the result of a server action without importing server code.
export type ActionResult<T = unknown> = { ok: true; data: T } | { ok: false; code: string; error: string; fieldErrors?: Record<string, string> };
