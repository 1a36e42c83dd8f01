import "server-only";
// The route-handler wrapper: the cross-site check, authentication and the permission check happen
// here, once, for every /api/v1 handler (hiding a button is not security).
import { NextResponse } from "next/server";
import type { Permission } from "../../permissions";
import { env, errorResponse, toJsonSafe } from "../platform";
import { clientIpFrom, requirePermission, requireUser, type Actor } from "../identity";
import { refuseCrossSiteWrite, type BodyKind } from "./cross-site";

type Ctx<P> = { req: Request; actor: Actor; params: P; clientIp: string | null };

/**
 * Wraps a route handler: refuse a cross-site browser write (before any session is read or body
 * consumed; see cross-site.ts) → authenticate (session or Bearer token) → require the permission (a
 * denied attempt is audited) → run → JSON. `action` names the attempt in the audit log; `body` is
 * what a write's body may be (default JSON; "multipart" for the streamed image upload).
 */
export function apiRoute<P = Record<string, string>>(
  opts: { permission: Permission; action: string; targetType?: string; body?: BodyKind },
  handler: (ctx: Ctx<P>) => Promise<unknown>,
) {
  return async (req: Request, route: { params: Promise<P> }): Promise<Response> => {
    try {
      refuseCrossSiteWrite(req, { publicUrl: env().publicUrl, body: opts.body ?? "json" });
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
