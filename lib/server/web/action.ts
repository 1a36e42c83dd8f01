import "server-only";
// The one wrapper that builds every server action: parse with zod → guard → data module → revalidate.
// Actions are public POST endpoints; this is what makes them safe whatever the page shows.
import { revalidatePath } from "next/cache";
import { headers } from "next/headers";
import { forbidden, unauthorized } from "next/navigation";
import type { z } from "zod";
import { formatIssues, isAppError } from "../../errors";
import type { Permission } from "../../permissions";
import { clientIpFrom, requirePermission, requireUser } from "../identity";
import { type Actor } from "../platform";
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable, logError } from "../platform";

import type { ActionResult } from "../../action-result";
export type { ActionResult };

export function defineAction<S extends z.ZodType, T>(
  opts: { schema: S; permission: Permission; action: string; targetType?: string; revalidate?: string[] },
  run: (input: z.output<S>, ctx: { actor: Actor; clientIp: string | null }) => Promise<T>,
) {
  return async (raw: z.input<S> | FormData): Promise<ActionResult<T>> => {
    try {
      const h = await headers();
      const actor = await requireUser(h);
      const clientIp = clientIpFrom(h);
      const input = raw instanceof FormData ? Object.fromEntries(raw.entries()) : raw;
      // Only a string or number names the target: String() of an object without a prototype throws (a 500).
      const rawId = input && typeof input === "object" && "id" in input ? (input as { id: unknown }).id : null;
      const targetId = typeof rawId === "string" || typeof rawId === "number" ? String(rawId) : null;
      await requirePermission(actor, opts.permission, {
        action: opts.action,
        targetType: opts.targetType,
        targetId,
        clientIp,
      });
      const parsed = opts.schema.safeParse(input);
      if (!parsed.success) {
        const fieldErrors: Record<string, string> = {};
        for (const issue of parsed.error.issues) fieldErrors[issue.path.map(String).join(".") || "_"] ??= issue.message;
        return { ok: false, code: "invalid", error: formatIssues(parsed.error.issues), fieldErrors };
      }
      const data = await run(parsed.data, { actor, clientIp });
      for (const path of opts.revalidate ?? []) revalidatePath(path);
      return { ok: true, data };
    } catch (error) {
      // A request without the right session or role never gets a normal 200 result: the
      // response carries 401/403 like the JSON API (the attempt is already in the audit log).
      if (isAppError(error) && error.code === "unauthenticated") unauthorized();
      if (isAppError(error) && error.code === "forbidden") forbidden();
      if (isAppError(error)) return { ok: false, code: error.code, error: error.message };
      // PostgreSQL restarting or unreachable: say so (as the JSON API's 503 does), not "something went wrong".
      if (isDatabaseUnavailable(error)) {
        logError("server action failed: database unavailable", error, { action: opts.action });
        return { ok: false, code: "database_unavailable", error: DATABASE_UNAVAILABLE_MESSAGE };
      }
      logError("server action failed", error, { action: opts.action });
      return { ok: false, code: "internal", error: "Something went wrong on the server; the error was logged." };
    }
  };
}
