// What a server action answers (lib/server/web/action.ts defineAction), nameable by client
// components without importing server code.
export type ActionResult<T = unknown> =
  { ok: true; data: T } | { ok: false; code: string; error: string; fieldErrors?: Record<string, string> };

/** An action's error as a thrown Error (the server's message), for TanStack Query mutations. */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly fieldErrors: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ActionError";
  }
}

/** The data of a successful action; throws an ActionError carrying the server's message otherwise. */
export function unwrapAction<T>(result: ActionResult<T>): T {
  if (!result.ok) throw new ActionError(result.error, result.code, result.fieldErrors);
  return result.data;
}
