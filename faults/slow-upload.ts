// A multipart image upload streamed slowly over node:http, so that a fault test can break the
// controller while the body is still arriving: what the client sees is recorded, never thrown.
import http from "node:http";
import { db } from "../lib/server/platform";
import { createToken } from "../lib/server/identity";
import { ADMIN } from "../lib/server/testing/fault-rig";
import { multipartStream, testBoundary, type TestPart } from "../lib/server/testing/multipart-body";

export interface UploadOutcome {
  /** the HTTP status, or null when no answer came (the connection failed) */
  status: number | null;
  body: string;
  /** the client-side error (ECONNRESET, EPIPE, …), or null */
  error: string | null;
  bytesSent: number;
}

/** An admin API token of the rig's first admin, for requests the rig's Api cannot make (streamed bodies). */
export async function adminAuthorization(): Promise<string> {
  const admin = await db().user.findUniqueOrThrow({ where: { email: ADMIN.email } });
  const actor = { id: admin.id, email: admin.email, name: admin.name, role: "admin" as const, via: "session" as const };
  return `Bearer ${(await createToken(actor, "fault-upload", 1, null)).token}`;
}

/**
 * POSTs `parts` to /api/v1/images in `sliceBytes` slices, `pauseMs` apart (0: as fast as the socket
 * takes them). `onProgress(bytesSent)` runs after each slice; the upload ends with the answer or
 * with the connection's failure, whichever comes first.
 */
export async function streamUpload(
  baseUrl: string,
  authorization: string,
  parts: TestPart[],
  opts: { sliceBytes?: number; pauseMs?: number; onProgress?: (sent: number) => Promise<void> | void } = {},
): Promise<UploadOutcome> {
  const boundary = testBoundary();
  const slice = opts.sliceBytes ?? 64 * 1024;
  const url = new URL("/api/v1/images", baseUrl);
  const req = http.request(url, {
    method: "POST",
    headers: { authorization, "content-type": `multipart/form-data; boundary=${boundary}` },
  });
  const outcome: UploadOutcome = { status: null, body: "", error: null, bytesSent: 0 };
  const ended = new Promise<void>((resolve) => {
    req.on("response", (res) => {
      outcome.status = res.statusCode ?? null;
      res.setEncoding("utf8");
      res.on("data", (d: string) => (outcome.body += d));
      res.on("end", resolve);
      res.on("error", (e) => {
        outcome.error ??= `${(e as NodeJS.ErrnoException).code ?? e.name}: ${e.message}`;
        resolve();
      });
    });
    req.on("error", (e) => {
      outcome.error ??= `${(e as NodeJS.ErrnoException).code ?? e.name}: ${e.message}`;
      resolve();
    });
  });
  let failed = false;
  void ended.then(() => (failed = true));
  const reader = multipartStream(parts, boundary).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || failed) break;
      for (let at = 0; at < value.length && !failed; at += slice) {
        const piece = value.subarray(at, at + slice);
        const drained = req.write(piece);
        outcome.bytesSent += piece.length;
        if (!drained) await Promise.race([new Promise((r) => req.once("drain", r)), ended]);
        await opts.onProgress?.(outcome.bytesSent);
        if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (!failed) req.end();
  await ended;
  return outcome;
}
