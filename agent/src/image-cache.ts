// Local cache of boot media downloaded from the controller:
//   <stateDir>/images/<imageId>/<file>          complete, verified (when a sha256 was given)
//   <stateDir>/images/<imageId>/<file>.part     partial download, resumed with a Range request
//   <stateDir>/images/<imageId>/<file>.sha256   hash of the complete file (saves re-hashing GBs)
// Image ids are immutable on the controller, so a complete file is never re-fetched unless its
// hash disagrees with the one a spec asks for.
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { safeIdSchema, CONTROLLER_AGENT_PREFIX, imageFileSchema, type ImageFileName } from "../../lib/schemas/agent-api";
import { silentLogger, type Logger } from "./log";

export type ImageFile = ImageFileName;
export const IMAGE_FILES: readonly ImageFile[] = imageFileSchema.options;

/** `code` uses the AgentError vocabulary so the API server maps it to a status. */
export class ImageCacheError extends Error {
  constructor(
    readonly code: "invalid" | "not_found" | "unavailable",
    message: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = "ImageCacheError";
  }
}

export interface ImageCacheOptions {
  stateDir: string;
  /** controller base URL, e.g. http://127.0.0.1:3000 */
  controllerUrl: string;
  /** current host token (changes after a re-registration); null before registration */
  getToken: () => string | null;
  log?: Logger;
  /** abort a download that receives nothing for this long */
  stallTimeoutMs?: number;
  /** network attempts per download (each resumes where the last stopped) */
  maxAttempts?: number;
  retryDelayMs?: number;
}

export type BootLike =
  | { type: "disk"; imageId: string; sha256?: string }
  | { type: "kernel"; imageId: string; kernelSha256?: string; initrdSha256?: string };

export interface ResolvedImage {
  disk?: string;
  kernel?: string;
  initrd?: string;
}

const SHA_RE = /^[0-9a-f]{64}$/;

async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return null;
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

export class ImageCache {
  readonly dir: string;
  private readonly inflight = new Map<string, Promise<string | null>>();
  private readonly log: Logger;
  private readonly stallTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly base: string;

  constructor(private readonly opts: ImageCacheOptions) {
    this.dir = path.join(opts.stateDir, "images");
    this.log = opts.log ?? silentLogger;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    const u = new URL(opts.controllerUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`controller URL must be http(s): ${opts.controllerUrl}`);
    this.base = opts.controllerUrl.replace(/\/+$/, "");
  }

  pathFor(imageId: string, file: ImageFile): string {
    // Validated again here: the id becomes a directory name.
    const parsed = safeIdSchema.safeParse(imageId);
    if (!parsed.success) throw new ImageCacheError("invalid", `invalid image id: ${parsed.error.issues[0]?.message ?? "bad id"}`);
    const id = parsed.data;
    if (!IMAGE_FILES.includes(file)) throw new ImageCacheError("invalid", `unknown image file "${file}"`);
    return path.join(this.dir, id, file);
  }

  /** Boot spec -> local paths (what VmManager's resolveImage wants). */
  async resolve(boot: BootLike): Promise<ResolvedImage> {
    if (boot.type === "disk") {
      return { disk: (await this.ensure(boot.imageId, "disk", boot.sha256)) ?? undefined };
    }
    const kernel = (await this.ensure(boot.imageId, "kernel", boot.kernelSha256)) ?? undefined;
    // An initrd is optional for kernel boot unless the spec pins its hash.
    const initrd = await this.ensure(boot.imageId, "initrd", boot.initrdSha256, { optional: !boot.initrdSha256 });
    return { kernel, ...(initrd ? { initrd } : {}) };
  }

  /**
   * Local path of a cached, verified file, downloading it first if needed. Concurrent calls for
   * the same file share one download. With `optional`, a 404 from the controller yields null.
   */
  ensure(imageId: string, file: ImageFile, sha256?: string, o: { optional?: boolean } = {}): Promise<string | null> {
    let final: string;
    try {
      final = this.pathFor(imageId, file);
    } catch (e) {
      return Promise.reject(e);
    }
    if (sha256 !== undefined && !SHA_RE.test(sha256)) return Promise.reject(new ImageCacheError("invalid", "sha256 must be 64 lower-case hex digits"));
    const key = `${imageId}/${file}`;
    const running = this.inflight.get(key);
    if (running) return running.then((p) => this.afterShared(p, final, sha256, imageId, file, o));
    const p = this.ensureUnshared(imageId, file, final, sha256, o).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** A joiner may ask for a hash the running download did not verify: check it too. */
  private async afterShared(p: string | null, final: string, sha256: string | undefined, imageId: string, file: ImageFile, o: { optional?: boolean }): Promise<string | null> {
    if (p === null || !sha256 || (await this.verifiedHash(final)) === sha256) return p;
    return this.ensure(imageId, file, sha256, o);
  }

  private async verifiedHash(final: string): Promise<string | null> {
    try {
      const v = (await fsp.readFile(final + ".sha256", "utf8")).trim();
      return SHA_RE.test(v) ? v : null;
    } catch {
      return null;
    }
  }

  private async ensureUnshared(imageId: string, file: ImageFile, final: string, sha256: string | undefined, o: { optional?: boolean }): Promise<string | null> {
    if ((await sizeOf(final)) !== null) {
      if (!sha256) return final;
      let have = await this.verifiedHash(final);
      if (have === null) {
        have = await sha256File(final);
        await fsp.writeFile(final + ".sha256", have + "\n");
      }
      if (have === sha256) return final;
      this.log("warn", "image.hash_changed", { imageId, file, expected: sha256, cached: have });
      await fsp.rm(final, { force: true });
      await fsp.rm(final + ".sha256", { force: true });
    }
    await fsp.mkdir(path.dirname(final), { recursive: true });
    const part = final + ".part";
    const started = Date.now();

    for (let verifyRound = 0; ; verifyRound++) {
      const ok = await this.download(imageId, file, part, o.optional === true);
      if (!ok) return null;
      const got = await sha256File(part);
      if (sha256 && got !== sha256) {
        // A corrupt .part from an earlier run or a bad transfer: start over once, then give up.
        await fsp.rm(part, { force: true });
        this.log("warn", "image.sha256_mismatch", { imageId, file, expected: sha256, got, retry: verifyRound === 0 });
        if (verifyRound === 0) continue;
        throw new ImageCacheError("unavailable", `image ${imageId} ${file}: sha256 mismatch (expected ${sha256}, got ${got}) after re-download`);
      }
      await fsp.rename(part, final);
      await fsp.writeFile(final + ".sha256", got + "\n");
      this.log("info", "image.cached", { imageId, file, bytes: await sizeOf(final), ms: Date.now() - started, verified: Boolean(sha256) });
      return final;
    }
  }

  /** Fills `part` to completion, resuming across attempts. false = optional file absent (404). */
  private async download(imageId: string, file: ImageFile, part: string, optional: boolean): Promise<boolean> {
    let lastErr: unknown = null;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      try {
        return await this.downloadAttempt(imageId, file, part, optional);
      } catch (e) {
        lastErr = e;
        if (e instanceof ImageCacheError && !e.retryable) throw e;
        this.log("warn", "image.download_retry", { imageId, file, attempt, error: e, partBytes: await sizeOf(part) });
        if (attempt < this.maxAttempts) await new Promise((r) => setTimeout(r, this.retryDelayMs * attempt));
      }
    }
    const msg = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new ImageCacheError("unavailable", `image ${imageId} ${file}: download failed after ${this.maxAttempts} attempts: ${msg}`);
  }

  private async downloadAttempt(imageId: string, file: ImageFile, part: string, optional: boolean): Promise<boolean> {
    const token = this.opts.getToken();
    if (!token) throw new ImageCacheError("unavailable", "agent is not registered with the controller yet (no host token)", false);
    const url = `${this.base}${CONTROLLER_AGENT_PREFIX}/images/${encodeURIComponent(imageId)}/${file}`;
    const offset = (await sizeOf(part)) ?? 0;
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (offset > 0) headers.range = `bytes=${offset}-`;

    const abort = new AbortController();
    let timer = setTimeout(() => abort.abort(new Error(`no data for ${this.stallTimeoutMs} ms`)), this.stallTimeoutMs);
    const poke = () => {
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(new Error(`no data for ${this.stallTimeoutMs} ms`)), this.stallTimeoutMs);
    };
    try {
      const res = await fetch(url, { headers, signal: abort.signal, redirect: "error" });
      if (res.status === 404) {
        await res.body?.cancel();
        if (optional) return false;
        throw new ImageCacheError("invalid", `image ${imageId} has no ${file} on the controller (404)`);
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new ImageCacheError("unavailable", `controller refused the image download (${res.status})`, true);
      }
      if (res.status === 416) {
        // Our .part is not a prefix of the file (or is already all of it): start over.
        await res.body?.cancel();
        await fsp.rm(part, { force: true });
        throw new ImageCacheError("unavailable", "range not satisfiable; restarting download", true);
      }
      let append = false;
      let expectedTotal: number | null = null;
      if (res.status === 206 && offset > 0) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
        if (!m || Number(m[1]) !== offset) {
          await res.body?.cancel();
          await fsp.rm(part, { force: true });
          throw new ImageCacheError("unavailable", `unexpected Content-Range "${res.headers.get("content-range")}"`, true);
        }
        append = true;
        expectedTotal = m[3] === "*" ? null : Number(m[3]);
      } else if (res.status === 200) {
        const len = res.headers.get("content-length");
        expectedTotal = len !== null && /^\d+$/.test(len) ? Number(len) : null;
      } else {
        await res.body?.cancel();
        throw new ImageCacheError("unavailable", `controller answered ${res.status} for image ${imageId} ${file}`, res.status >= 500 || res.status === 429);
      }
      if (!res.body) throw new ImageCacheError("unavailable", "empty response body", true);

      const fh = await fsp.open(part, append ? "a" : "w", 0o644);
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          poke();
          await fh.write(chunk);
        }
      } finally {
        await fh.close();
      }
      const size = (await sizeOf(part)) ?? 0;
      if (expectedTotal !== null && size !== expectedTotal) {
        throw new ImageCacheError("unavailable", `short download: ${size} of ${expectedTotal} bytes`, true);
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
