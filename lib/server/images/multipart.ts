import "server-only";
// A small streaming multipart/form-data parser (RFC 7578) over a Web ReadableStream. Image uploads
// are gigabytes: each part's bytes go to its sink as they arrive and the parser keeps at most one
// network chunk plus a delimiter's length in memory. Sinks are awaited, so a slow disk slows the
// reader down (backpressure) instead of filling memory.
import { AppError } from "../../errors";

export interface PartInfo {
  name: string;
  filename: string | null;
  contentType: string | null;
}

export interface PartSink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

export interface MultipartLimits {
  maxParts: number;
  maxHeaderBytes: number;
  maxPreambleBytes: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxParts: 16, maxHeaderBytes: 16 * 1024, maxPreambleBytes: 64 * 1024 };
const CRLF = Buffer.from("\r\n");
const HEADER_END = Buffer.from("\r\n\r\n");
const EMPTY = Buffer.alloc(0);

const invalid = (message: string) => new AppError({ code: "invalid", message });

/** The boundary of a `multipart/form-data` Content-Type, or a 400 naming what is wrong. */
export function multipartBoundary(contentType: string | null): string {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType.trim()))
    throw invalid("Send the image as multipart/form-data (fields name, format, … and the file parts).");
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw invalid("The multipart/form-data Content-Type has no valid boundary.");
  return boundary;
}

function param(header: string, key: string): string | null {
  const re = new RegExp(`;\\s*${key}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i");
  const m = re.exec(header);
  if (!m) return null;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? "");
}

function parsePartHeaders(raw: string): PartInfo {
  let disposition: string | null = null;
  let contentType: string | null = null;
  for (const line of raw.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "content-disposition") disposition = value;
    else if (key === "content-type") contentType = value;
  }
  if (!disposition || !/^form-data\s*(;|$)/i.test(disposition)) throw invalid("A multipart part has no `Content-Disposition: form-data` header.");
  const name = param(disposition, "name");
  if (!name) throw invalid("A multipart part has no field name.");
  return { name, filename: param(disposition, "filename"), contentType };
}

type State = "preamble" | "after-delimiter" | "headers" | "body" | "epilogue";

/**
 * Reads `body` to the end, calling `onPart` at the start of every part and streaming the part's
 * bytes into the sink it returns. Throws AppError("invalid") for malformed or truncated bodies;
 * whatever the sinks did must be undone by the caller. `signal` stops reading when aborted.
 */
export async function parseMultipart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  onPart: (part: PartInfo) => Promise<PartSink> | PartSink,
  opts: Partial<MultipartLimits> & { signal?: AbortSignal; drainOnErrorBytes?: number } = {},
): Promise<void> {
  const limits = { ...DEFAULT_LIMITS, ...opts };
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const keep = delimiter.length - 1; // a delimiter split across chunks starts within the last `keep` bytes
  const reader = body.getReader();
  const onAbort = () => void reader.cancel(new Error("client aborted")).catch(() => {});
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  // A leading CRLF makes the first delimiter look like all the others.
  let buf: Buffer = Buffer.from(CRLF);
  let state: State = "preamble";
  let sink: PartSink | null = null;
  let parts = 0;
  try {
    for (;;) {
      // Consume as much of `buf` as the current state allows.
      for (let progressed = true; progressed; ) {
        progressed = false;
        if (state === "preamble") {
          const i = buf.indexOf(delimiter);
          if (i < 0) {
            if (buf.length > limits.maxPreambleBytes) throw invalid("The body does not start with the multipart boundary from the Content-Type.");
          } else {
            buf = buf.subarray(i + delimiter.length);
            state = "after-delimiter";
            progressed = true;
          }
        } else if (state === "after-delimiter") {
          if (buf.length < 2) break;
          if (buf[0] === 0x2d && buf[1] === 0x2d) {
            state = "epilogue";
            buf = EMPTY;
            break;
          }
          const eol = buf.indexOf(CRLF);
          if (eol < 0) {
            if (buf.length > 256) throw invalid("Malformed multipart body: garbage after a boundary.");
            break;
          }
          // RFC 2046 allows linear whitespace between the boundary and its CRLF.
          if (!/^[ \t]*$/.test(buf.subarray(0, eol).toString("latin1"))) throw invalid("Malformed multipart body: garbage after a boundary.");
          buf = buf.subarray(eol + 2);
          state = "headers";
          progressed = true;
        } else if (state === "headers") {
          const end = buf.indexOf(HEADER_END);
          // A part with no headers at all starts directly with the blank line.
          const headerEnd = buf.subarray(0, 2).equals(CRLF) ? -2 : end;
          if (headerEnd === -1) {
            if (buf.length > limits.maxHeaderBytes) throw invalid("A multipart part's headers are too long.");
            break;
          }
          if (++parts > limits.maxParts) throw invalid(`Too many multipart parts (at most ${limits.maxParts}).`);
          const info = parsePartHeaders(headerEnd < 0 ? "" : buf.subarray(0, headerEnd).toString("utf8"));
          sink = await onPart(info);
          buf = buf.subarray(headerEnd < 0 ? 2 : headerEnd + 4);
          state = "body";
          progressed = true;
        } else if (state === "body") {
          const i = buf.indexOf(delimiter);
          if (i >= 0) {
            if (i > 0) await sink!.write(buf.subarray(0, i));
            await sink!.end();
            sink = null;
            buf = buf.subarray(i + delimiter.length);
            state = "after-delimiter";
            progressed = true;
          } else if (buf.length > keep) {
            await sink!.write(buf.subarray(0, buf.length - keep));
            buf = buf.subarray(buf.length - keep);
          }
        } else {
          buf = EMPTY; // epilogue: ignored
        }
      }
      if (opts.signal?.aborted) throw invalid("The upload was cancelled by the client.");
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        throw invalid("The upload was interrupted: the connection closed before the file was complete.");
      }
      if (chunk.done) {
        if (opts.signal?.aborted) throw invalid("The upload was cancelled by the client.");
        break;
      }
      const bytes = Buffer.from(chunk.value.buffer, chunk.value.byteOffset, chunk.value.byteLength);
      if (state === "body" && buf.length <= keep && bytes.length >= keep && !delimiterStartsIn(buf, bytes, delimiter)) {
        // Hot path for file bytes: no delimiter starts in the kept tail, so the tail is file data:
        // write it and scan the new chunk in place instead of copying it onto the tail.
        if (buf.length > 0) await sink!.write(buf);
        buf = bytes;
      } else {
        buf = buf.length === 0 ? bytes : Buffer.concat([buf, bytes]);
      }
    }
    if (state !== "epilogue") throw invalid("The upload ended before the closing multipart boundary: the connection was probably interrupted.");
  } catch (error) {
    // Browsers read the response only after sending the whole body: a refusal answered while the
    // client still uploads would stall until a timeout. Reading (and discarding) a bounded rest
    // lets small uploads see the real error at once; bigger ones are cut off.
    await drain(reader, opts.drainOnErrorBytes ?? 0, opts.signal);
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/** Whether a delimiter begins within `tail` (it may run on into the first bytes of `next`). */
function delimiterStartsIn(tail: Buffer, next: Buffer, delimiter: Buffer): boolean {
  if (tail.length === 0) return false;
  const i = Buffer.concat([tail, next.subarray(0, delimiter.length - 1)]).indexOf(delimiter);
  return i >= 0 && i < tail.length;
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, signal?: AbortSignal): Promise<void> {
  let left = maxBytes;
  try {
    while (left > 0 && !signal?.aborted) {
      const { done, value } = await reader.read();
      if (done) return;
      left -= value.byteLength;
    }
  } catch {
    /* the client went away: nothing to drain */
  }
}
