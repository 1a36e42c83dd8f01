// Builds streamed multipart/form-data request bodies for tests and benchmarks: file parts are read
// from disk as they are sent, so a 1 GiB body never sits in memory.
import { createReadStream } from "node:fs";
import { randomBytes } from "node:crypto";

/** `filename: null` sends the bytes without a filename, as a form field (`curl -F name=<file`). */
export type TestPart =
  | { name: string; value: string }
  | { name: string; path: string; filename?: string }
  | { name: string; data: Uint8Array; filename?: string | null };

export const testBoundary = () => `----polyarch${randomBytes(8).toString("hex")}`;

async function* bodyChunks(
  parts: TestPart[],
  boundary: string,
  opts: { truncateAfter?: number; failAfter?: number },
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  const emit = function* (b: Uint8Array): Generator<Uint8Array> {
    if (opts.failAfter !== undefined && sent + b.length > opts.failAfter) throw new Error("connection reset by test");
    sent += b.length;
    yield b;
  };
  for (const p of parts) {
    const asField = "value" in p || ("filename" in p && p.filename === null);
    const disposition = asField
      ? `form-data; name="${p.name}"`
      : `form-data; name="${p.name}"; filename="${("filename" in p && p.filename) || p.name}"`;
    const type = asField ? "" : "Content-Type: application/octet-stream\r\n";
    yield* emit(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`));
    if ("value" in p) yield* emit(Buffer.from(p.value));
    else if ("data" in p) yield* emit(p.data);
    else
      for await (const c of createReadStream(p.path, { highWaterMark: 256 * 1024 })) {
        if (opts.truncateAfter !== undefined && sent + (c as Buffer).length > opts.truncateAfter) return; // the client vanished mid-file
        yield* emit(c as Buffer);
      }
    yield* emit(Buffer.from("\r\n"));
  }
  yield* emit(Buffer.from(`--${boundary}--\r\n`));
}

/** A multipart body stream; `truncateAfter` ends it early (clean EOF), `failAfter` errors it (reset). */
export function multipartStream(
  parts: TestPart[],
  boundary: string,
  opts: { truncateAfter?: number; failAfter?: number } = {},
): ReadableStream<Uint8Array> {
  const it = bodyChunks(parts, boundary, opts);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}

export function multipartRequest(
  parts: TestPart[],
  opts: { truncateAfter?: number; failAfter?: number; contentLength?: number; signal?: AbortSignal } = {},
): Request {
  const boundary = testBoundary();
  const headers: Record<string, string> = { "content-type": `multipart/form-data; boundary=${boundary}` };
  if (opts.contentLength !== undefined) headers["content-length"] = String(opts.contentLength);
  return new Request("http://controller.test/api/v1/images", {
    method: "POST",
    body: multipartStream(parts, boundary, opts),
    headers,
    signal: opts.signal,
    duplex: "half",
  } as RequestInit & { duplex: "half" });
}
