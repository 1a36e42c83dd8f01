import "server-only";
// Route-handler plumbing for the JSON API: body/query parsing with limits, and errors mapped to
// `{error: {code, message}}` with the right status. The guarded wrapper is identity's apiRoute.
import { NextResponse } from "next/server";
import type { z } from "zod";
import { AppError, formatIssues, isAppError } from "../../errors";
import { logError } from "./log";
import { searchParamsToObject } from "../../schemas/list";

export const MAX_JSON_BYTES = 1024 * 1024;

export function jsonError(code: string, message: string, status: number): NextResponse {
  return NextResponse.json({ error: { code, message } }, { status });
}

export function errorResponse(error: unknown, context: Record<string, unknown> = {}): NextResponse {
  if (isAppError(error)) return jsonError(error.code, error.message, error.status);
  logError("request failed", error, context);
  return jsonError("internal", "Something went wrong on the server; the error was logged.", 500);
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
