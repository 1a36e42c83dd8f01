// Request bodies of the agent API: the error type every route throws, and bounded JSON reading.
import type http from "node:http";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const JSON_BODY_MS = 120_000;
export function readJson(req: http.IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume(); // let the client finish sending so it can read our answer
      return reject(new HttpError(413, "too_large", `request body over ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const deadline = setTimeout(() => {
      failed = true;
      reject(new HttpError(408, "timeout", `request body not received within ${JSON_BODY_MS / 1000} s`));
      req.destroy();
    }, JSON_BODY_MS);
    req.once("close", () => clearTimeout(deadline));
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(new HttpError(413, "too_large", `request body over ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("error", (e) => {
      if (!failed) reject(new HttpError(400, "invalid", `request aborted: ${e.message}`));
    });
    req.on("end", () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString("utf8");
      if (!text.trim()) return reject(new HttpError(400, "invalid", "request body is empty (JSON expected)"));
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new HttpError(400, "invalid", `malformed JSON: ${(e as Error).message}`));
      }
    });
  });
}
