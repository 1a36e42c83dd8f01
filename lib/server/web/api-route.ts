import "server-only";
// The route-handler wrapper: authentication and the permission check happen here, once, for every
// /api/v1 handler (hiding a button is not security).
import { NextResponse } from "next/server";
import type { Permission } from "../../permissions";
import { errorResponse, toJsonSafe } from "../platform";
import { clientIpFrom, requirePermission, requireUser, type Actor } from "../identity";

type Ctx<P> = { req: Request; actor: Actor; params: P; clientIp: string | null };

/**
 * Wraps a route handler: authenticate (session or Bearer token) → require the permission (a denied
 * attempt is audited) → run → JSON. `action` names the attempt in the audit log.
 */
export function apiRoute<P = Record<string, string>>(
  opts: { permission: Permission; action: string; targetType?: string },
  handler: (ctx: Ctx<P>) => Promise<unknown>,
) {
  return async (req: Request, route: { params: Promise<P> }): Promise<Response> => {
    try {
      const actor = await requireUser(req.headers);
      const params = (await route?.params) ?? ({} as P);
      const clientIp = clientIpFrom(req.headers);
      const targetId = (params as Record<string, string | undefined>).id ?? null;
      await requirePermission(actor, opts.permission, {
        action: opts.action,
        targetType: opts.targetType,
        targetId,
        clientIp,
      });
      const result = await handler({ req, actor, params, clientIp });
      if (result instanceof Response) return result;
      return NextResponse.json(toJsonSafe(result));
    } catch (error) {
      return errorResponse(error, { action: opts.action, url: req.url });
    }
  };
}
