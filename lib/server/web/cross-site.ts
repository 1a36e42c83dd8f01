import "server-only";
// Cross-site writes (ADR 023). SameSite=Lax cookies still ride along on POSTs from the same *site*
// (another port of the same host, a sibling subdomain), and a `text/plain` or form POST needs no
// CORS preflight. So a write that a browser could have sent on the user's behalf must come from
// the console's own origin and carry a body type no HTML form can produce. Bearer-token requests
// are exempt: browsers never attach that header on their own, and it replaces the cookie entirely.
import { AppError } from "../../errors";
import { bearerToken } from "../identity";
import { logInfo, originOf, ownOrigins } from "../platform";

/** What a route's body may be: JSON (every route) or a streamed multipart upload (POST /api/v1/images). */
export type BodyKind = "json" | "multipart";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const MEDIA_TYPE: Record<BodyKind, string> = { json: "application/json", multipart: "multipart/form-data" };
const HOW_TO_SEND: Record<BodyKind, string> = {
  json: 'Send the body as JSON with "Content-Type: application/json"',
  multipart: 'Upload with "Content-Type: multipart/form-data" (an HTML form or FormData)',
};

function mediaTypeOf(h: Headers): string | null {
  const value = h.get("content-type");
  return value === null ? null : (value.split(";")[0] ?? "").trim().toLowerCase();
}

function declaresBody(h: Headers): boolean {
  const length = h.get("content-length");
  return (length !== null && Number(length) !== 0) || h.has("transfer-encoding");
}

const clip = (s: string) => (s.length > 100 ? `${s.slice(0, 100)}…` : s);

/**
 * Throws unless this request may change something: GET/HEAD/OPTIONS and Bearer-token requests
 * always may; any other write needs (1) no `Origin` header or one of the console's own origins,
 * (2) no `Sec-Fetch-Site` header or `same-origin`/`none`, and (3) a `Content-Type` of `body`'s kind
 * — or no Content-Type and no body at all. Runs before authentication and before the body is read.
 */
export function refuseCrossSiteWrite(req: Request, opts: { publicUrl: string; body: BodyKind }): void {
  if (!WRITES.has(req.method.toUpperCase()) || bearerToken(req.headers) !== null) return;
  const refuse = (why: string) => {
    logInfo("cross-site write refused", {
      method: req.method,
      url: req.url,
      origin: clip(req.headers.get("origin") ?? ""),
      secFetchSite: clip(req.headers.get("sec-fetch-site") ?? ""),
    });
    return new AppError({
      code: "forbidden",
      message:
        `Cross-site request refused: ${why}. Changes are accepted only from the console's own pages ` +
        `(${opts.publicUrl}) or with an API token (Authorization: Bearer …). Behind a reverse proxy, ` +
        "set POLYARCH_PUBLIC_URL to the address the browser shows.",
    });
  };
  const origin = req.headers.get("origin");
  if (origin !== null) {
    const normalised = originOf(origin);
    if (normalised === null || !ownOrigins(req, opts.publicUrl).has(normalised))
      throw refuse(`it was sent by a page at ${clip(origin)}, not by this console`);
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none")
    throw refuse(`the browser reports it came from another site (Sec-Fetch-Site: ${clip(site)})`);

  const type = mediaTypeOf(req.headers);
  if (type === null ? declaresBody(req.headers) : type !== MEDIA_TYPE[opts.body])
    throw new AppError({
      code: "unsupported_media_type",
      message: `${HOW_TO_SEND[opts.body]}; this request's Content-Type was ${type === null ? "missing" : `"${clip(type)}"`}.`,
    });
}
