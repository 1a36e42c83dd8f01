import "server-only";
// Route-handler plumbing for the JSON API: body/query parsing with limits, errors mapped to
// `{error: {code, message}}` with the right status, the request's own origins. The guarded wrapper is web's apiRoute.
import { NextResponse } from "next/server";
import type { z } from "zod";
import { AppError, formatIssues, isAppError } from "../../errors";
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from "./db";
import { logError } from "./log";
import { searchParamsToObject } from "../../schemas/list";

export const MAX_JSON_BYTES = 1024 * 1024;

export function jsonError(code: string, message: string, status: number): NextResponse {
  return NextResponse.json({ error: { code, message } }, { status });
}

export function errorResponse(error: unknown, context: Record<string, unknown> = {}): NextResponse {
  if (isAppError(error)) return jsonError(error.code, error.message, error.status);
  if (isDatabaseUnavailable(error)) {
    // Not a bug in the request: PostgreSQL is restarting or unreachable. pg.Pool reconnects by itself.
    logError("request failed: database unavailable", error, context);
    const res = jsonError("database_unavailable", DATABASE_UNAVAILABLE_MESSAGE, 503);
    res.headers.set("retry-after", "5");
    return res;
  }
  logError("request failed", error, context);
  return jsonError("internal", "Something went wrong on the server; the error was logged.", 500);
}

/** `scheme://host[:port]`, normalised (lower case, default port dropped), or null if it is not one. */
export function originOf(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : null;
  } catch {
    return null;
  }
}

/**
 * The origins this request was addressed to, for same-origin checks (lib/server/web/cross-site.ts,
 * better-auth's trustedOrigins). Next builds `req.url` from the address the server was
 * started with (`-H`/`-p`, e.g. http://localhost:3000), not from what the browser shows, so the
 * browser's own view is rebuilt from `Host` (and `X-Forwarded-Host` behind a proxy) with the scheme
 * Next derived (TLS or `X-Forwarded-Proto`), plus the configured public URL.
 */
export function ownOrigins(req: Request, publicUrl: string): Set<string> {
  const url = new URL(req.url);
  const hosts = [req.headers.get("host"), req.headers.get("x-forwarded-host")?.split(",")[0]?.trim()];
  const origins = [url.origin, publicUrl, ...hosts.filter(Boolean).map((host) => `${url.protocol}//${host}`)];
  return new Set(origins.map(originOf).filter((o): o is string => o !== null));
}

/** JSON replacer: BigInt sizes become numbers (safe below 2^53 bytes = 8 PiB). */
export function toJsonSafe<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
}

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what = "request"): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success)
    throw new AppError({ code: "invalid", message: `Invalid ${what}: ${formatIssues(result.error.issues)}` });
  return result.data;
}

export function parseQuery<S extends z.ZodType>(req: Request, schema: S): z.output<S> {
  return parseOrThrow(schema, searchParamsToObject(new URL(req.url).searchParams), "query");
}

/** Reads a JSON body with a size cap; malformed or oversize bodies are client errors, never 500. */
export async function readJson<S extends z.ZodType>(
  req: Request,
  schema: S,
  maxBytes = MAX_JSON_BYTES,
): Promise<z.output<S>> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes)
    throw new AppError({ code: "too_large", message: `Request body is larger than ${maxBytes} bytes.` });
  const reader = req.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new AppError({ code: "too_large", message: `Request body is larger than ${maxBytes} bytes.` });
      }
      chunks.push(value);
    }
  }
  const text = Buffer.concat(chunks).toString("utf8");
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new AppError({ code: "invalid", message: "Request body is not valid JSON." });
  }
  return parseOrThrow(schema, data, "request body");
}
