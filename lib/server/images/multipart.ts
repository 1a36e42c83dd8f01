import "server-only";
// Streaming multipart/form-data (RFC 7578) over a Web ReadableStream, parsed by busboy (ADR 022).
// Image uploads are gigabytes: each part's bytes go to its sink as they arrive. The body is read
// one chunk at a time and the next chunk is read only once busboy has taken the previous one, and
// busboy takes a chunk only when the current file part's stream has room (256 KiB): a slow sink
// slows the reader down (backpressure) instead of filling memory. Parts are handed to `onPart`
// and their sinks strictly in order, one at a time, as the hand-written parser before did.
//
// What this wrapper adds to busboy, which would otherwise truncate or skip silently:
// - a form field (a part without filename) over `maxFieldBytes` is an error, not a truncated value;
// - the bytes outside file parts (preamble, part headers, field values, skipped parts, epilogue)
//   are counted while they arrive, so a wrong boundary or a huge "field" fails within a chunk or
//   two of its limit instead of after the whole body;
// - too many parts, a part without a name, a truncated body and a reset connection are AppErrors
//   with the same messages as before; the caller's sink enforces each file's own size limit.
import busboy from "busboy";
import type { Readable } from "node:stream";
import { AppError } from "../../errors";

export interface PartInfo {
  name: string;
  /** The filename parameter's last path segment (busboy strips directories), or null for a form field. */
  filename: string | null;
  /** The part's media type; busboy reports text/plain when the part has no Content-Type. */
  contentType: string | null;
}

export interface PartSink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

export interface MultipartLimits {
  maxParts: number;
  /** Bytes of one part's header block; busboy refuses more than 16 KiB whatever this says. */
  maxHeaderBytes: number;
  maxPreambleBytes: number;
  /** Bytes of a form field's value (a part without filename); busboy holds it in memory. */
  maxFieldBytes: number;
}

const KiB = 1024;
const DEFAULT_LIMITS: MultipartLimits = {
  maxParts: 16,
  maxHeaderBytes: 16 * KiB,
  maxPreambleBytes: 64 * KiB,
  maxFieldBytes: 64 * KiB,
};
/** busboy's fixed limit on one part's header block. */
const BUSBOY_MAX_HEADER_BYTES = 16 * KiB;
/**
 * How much of a file part busboy may hold before it stops taking body chunks. The sink's own write
 * buffer (4 MiB in hashingFileSink) already keeps the disk busy: more here buys no throughput.
 */
const FILE_HWM = 256 * KiB;

const invalid = (message: string) => new AppError({ code: "invalid", message });
const endedEarly = () =>
  invalid("The upload ended before the closing multipart boundary: the connection was probably interrupted.");
const interrupted = () => invalid("The upload was interrupted: the connection closed before the file was complete.");
const cancelled = () => invalid("The upload was cancelled by the client.");

/** The boundary of a `multipart/form-data` Content-Type, or a 400 naming what is wrong. */
export function multipartBoundary(contentType: string | null): string {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType.trim()))
    throw invalid("Send the image as multipart/form-data (fields name, format, … and the file parts).");
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw invalid("The multipart/form-data Content-Type has no valid boundary.");
  return boundary;
}

/** busboy's own errors (it has no codes) as the messages users saw before. */
function busboyError(e: unknown): AppError {
  const message = e instanceof Error ? e.message : "";
  if (/^Unexpected end of (form|file)/.test(message)) return endedEarly();
  if (/^Malformed part header/.test(message))
    return invalid(`A multipart part's headers are malformed or longer than ${BUSBOY_MAX_HEADER_BYTES / KiB} KiB.`);
  return invalid("Malformed multipart body.");
}

type Part = { info: PartInfo; field: { value: string; truncated: boolean } } | { info: PartInfo; file: Readable };

/**
 * Reads `body` to the end, calling `onPart` at the start of every part and streaming the part's
 * bytes into the sink it returns. Throws AppError("invalid") for malformed or truncated bodies;
 * whatever the sinks did must be undone by the caller. When it returns or throws, no `onPart` or
 * sink call is still running. `signal` stops reading when aborted.
 */
export async function parseMultipart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
  onPart: (part: PartInfo) => Promise<PartSink> | PartSink,
  opts: Partial<MultipartLimits> & { signal?: AbortSignal; drainOnErrorBytes?: number } = {},
): Promise<void> {
  const limits = { ...DEFAULT_LIMITS, ...opts };
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: { "content-type": `multipart/form-data; boundary="${boundary.replace(/[\\"]/g, "\\$&")}"` },
      // One byte over the limit tells a value at the limit from a longer one (busboy truncates).
      limits: { fieldSize: limits.maxFieldBytes + 1 },
      fileHwm: FILE_HWM,
      // Browsers send filenames as raw UTF-8; busboy's default would read them as latin1.
      defParamCharset: "utf8",
    });
  } catch {
    throw invalid("The multipart/form-data Content-Type has no valid boundary.");
  }

  const delimiter = Buffer.from(`--${boundary}`);
  const headerBytes = Math.min(limits.maxHeaderBytes, BUSBOY_MAX_HEADER_BYTES);
  // Most bytes that may arrive outside any file part before the next part starts or a file ends.
  const outsideBudget = headerBytes + limits.maxFieldBytes + 2 * (delimiter.length + 4);

  const queue: Part[] = [];
  let failed: { error: unknown } | null = null;
  let closed = false; // busboy saw the closing boundary and every file stream was read to its end
  let busy = false; // the consumer is in onPart or a sink's end: read nothing more until it is done
  let reading: Readable | null = null; // the file stream the consumer is reading
  let openFiles = 0; // file parts announced and not yet read to their end
  let progress = 0; // part starts and file ends so far: what resets the count of bytes outside files
  let waiters: (() => void)[] = [];
  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const changed = () => new Promise<void>((r) => waiters.push(r));
  // What the pump awaits (a read, busboy taking a chunk) settles as null once anything fails. One
  // slot, not a race against a shared promise: that would keep a reaction per chunk until the end.
  let interrupt: (() => void) | null = null;
  const orFailure = <T>(p: Promise<T>) =>
    new Promise<T | null>((resolve, reject) => {
      if (failed) return resolve(null);
      interrupt = () => resolve(null);
      p.then(resolve, reject);
    }).finally(() => (interrupt = null));
  const fail = (error: unknown) => {
    if (failed) return;
    failed = { error };
    bb.destroy();
    reading?.destroy();
    for (const p of queue.splice(0)) if ("file" in p) p.file.destroy();
    interrupt?.();
    notify();
  };

  bb.on("field", (name, value, info) => {
    if (failed) return;
    queue.push({
      info: { name: name ?? "", filename: null, contentType: info.mimeType },
      field: { value, truncated: info.valueTruncated },
    });
    progress++;
    notify();
  });
  bb.on("file", (name, stream, info) => {
    stream.on("error", () => {}); // kept by the stream for whoever reads it; never an uncaught event
    if (failed) return void stream.destroy(); // busboy finishing the chunk it was given when we failed
    openFiles++;
    queue.push({
      info: { name: name ?? "", filename: info.filename ?? null, contentType: info.mimeType },
      file: stream,
    });
    progress++;
    notify();
  });
  bb.on("error", (e) => fail(busboyError(e)));
  bb.on("close", () => {
    closed = true;
    notify();
  });

  /** Hands the parts to onPart and their bytes to the sinks, in order, one at a time. */
  async function consume(): Promise<void> {
    let parts = 0;
    for (;;) {
      while (!failed && queue.length === 0 && !closed) await changed();
      const part = failed ? undefined : queue.shift();
      if (!part) return; // failed, or closed with every part handled
      busy = true;
      if (++parts > limits.maxParts) throw invalid(`Too many multipart parts (at most ${limits.maxParts}).`);
      if (!part.info.name) throw invalid("A multipart part has no field name.");
      const sink = await onPart(part.info);
      if (failed) return;
      if ("field" in part) {
        if (part.field.truncated)
          throw invalid(
            `The form field "${part.info.name.slice(0, 40)}" is longer than ${limits.maxFieldBytes} bytes (send files as file parts, with a filename).`,
          );
        if (part.field.value) await sink.write(Buffer.from(part.field.value, "utf8"));
      } else {
        busy = false;
        notify();
        reading = part.file;
        const chunks = part.file[Symbol.asyncIterator]();
        for (;;) {
          let next: IteratorResult<Buffer>;
          try {
            next = await chunks.next();
          } catch (e) {
            if (!failed) fail(busboyError(e));
            return;
          }
          if (failed) return;
          if (next.done) break;
          try {
            await sink.write(next.value);
          } catch (e) {
            fail(e);
            return;
          }
        }
        reading = null;
        busy = true;
        openFiles--;
        progress++;
      }
      if (failed) return;
      await sink.end();
      busy = false;
      notify();
    }
  }

  /** Reads the body chunk by chunk into busboy, each only once busboy and the consumer are ready. */
  async function pump(): Promise<void> {
    let outside = 0;
    let delimiterSeen = false;
    let tail = Buffer.alloc(0);
    for (;;) {
      while (!failed && (busy || queue.length > 0)) await changed();
      if (failed) return;
      if (opts.signal?.aborted) throw cancelled();
      let chunk: ReadableStreamReadResult<Uint8Array> | null;
      try {
        // A sink may fail while the client is between two chunks: do not wait for the next one
        // (the read left pending is settled by the drain or the cancel that follows).
        chunk = await orFailure(reader.read());
      } catch {
        throw interrupted();
      }
      if (!chunk) return;
      if (chunk.done) {
        if (opts.signal?.aborted) throw cancelled();
        break;
      }
      if (failed) return;
      const bytes = Buffer.from(chunk.value.buffer, chunk.value.byteOffset, chunk.value.byteLength);
      const before = progress;
      await orFailure(new Promise<void>((r) => bb.write(bytes, () => r())));
      if (failed) return;
      if (progress !== before || openFiles > 0) {
        outside = 0;
        continue;
      }
      outside += bytes.length;
      if (before === 0) {
        // Only for the message: did the boundary appear at all before the first part?
        const seen =
          Buffer.concat([tail, bytes.subarray(0, delimiter.length)]).includes(delimiter) || bytes.includes(delimiter);
        delimiterSeen ||= seen;
        tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - delimiter.length + 1)));
        if (outside > limits.maxPreambleBytes + outsideBudget)
          throw invalid(
            delimiterSeen
              ? fieldTooLong(limits.maxFieldBytes)
              : "The body does not start with the multipart boundary from the Content-Type.",
          );
      } else if (outside > outsideBudget) {
        throw invalid(fieldTooLong(limits.maxFieldBytes));
      }
    }
    bb.end();
    while (!failed && !closed) await changed();
  }

  const reader = body.getReader();
  const onAbort = () => void reader.cancel(new Error("client aborted")).catch(() => {});
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const consuming = consume().catch(fail);
    await pump().catch(fail);
    await consuming;
    if (failed) throw (failed as { error: unknown }).error;
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

function fieldTooLong(max: number): string {
  return `A multipart part without a filename is longer than a form field may be (${max} bytes): send files as file parts, with a filename.`;
}

async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<void> {
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
