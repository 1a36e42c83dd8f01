// Local cache of boot media downloaded from the controller:
//   <stateDir>/images/<imageId>/<file>          complete, verified (when a sha256 was given)
//   <stateDir>/images/<imageId>/<file>.part     partial download, resumed with a Range request
//   <stateDir>/images/<imageId>/<file>.sha256   hash of the complete file (saves re-hashing GBs)
//   <stateDir>/images/<imageId>/.last-used      mtime = last time a VM asked for it (LRU eviction)
// Image ids are immutable on the controller, so a complete file is never re-fetched unless its
// hash disagrees with the one a spec asks for.
// Eviction removes a whole <imageId> directory, never while it downloads or while a VM on this
// host boots from it (its qcow2 overlay's backing file lives there) or is being created from it.
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import {
  safeIdSchema,
  CONTROLLER_AGENT_PREFIX,
  imageFileSchema,
  type HostImageReport,
  type ImageFileName,
} from "../../../lib/schemas/agent-api";
import { silentLogger, type Logger } from "../util";

export type ImageFile = ImageFileName;
export const IMAGE_FILES: readonly ImageFile[] = imageFileSchema.options;

/** `code` uses the AgentError vocabulary so the API server maps it to a status. */
export class ImageCacheError extends Error {
  constructor(
    readonly code: "invalid" | "not_found" | "conflict" | "unavailable" | "insufficient_storage",
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
  /** VMs on this host per image id (from their specs); eviction refuses images listed here */
  usersOf?: () => Promise<ReadonlyMap<string, ReadonlyArray<{ id: string; name: string }>>>;
  /** after each download, evict least-recently-used unused images until the cache fits (--image-cache-max-gb) */
  maxBytes?: number;
  /** fetch that trusts the cluster CA for an https controller (agent/src/controller/tls.ts); default: the global fetch */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export interface CachedImage extends HostImageReport {
  /** epoch ms of the last use (the .last-used marker), for LRU order */
  lastUsedMs: number;
  /** VMs that keep it in use ("name (id)"), including creates in progress */
  usedBy: string[];
}

export interface EvictResult {
  imageId: string;
  evicted: true;
  freedBytes: number;
}

const LAST_USED = ".last-used";

/** What to resolve: boot media, or an ISO for the CD drive ("iso" boot or a spec's `cdrom`). */
export type BootLike =
  | { type: "disk" | "iso" | "cdrom"; imageId: string; sha256?: string }
  | { type: "kernel"; imageId: string; kernelSha256?: string; initrdSha256?: string };

export interface ResolvedImage {
  disk?: string;
  kernel?: string;
  initrd?: string;
}

const SHA_RE = /^[0-9a-f]{64}$/;
const MiB = 1024 * 1024;

/** A write refused because the filesystem (or the user's quota) is full. */
export function isNoSpace(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Bytes an unprivileged writer may still put on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const st = await fsp.statfs(dir);
  return Number(st.bavail) * Number(st.bsize);
}

/** Bytes under a directory (one level: the cache never nests). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fsp.readdir(dir).catch(() => [] as string[]))
    total += (await sizeOf(path.join(dir, name))) ?? 0;
  return total;
}

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
  /** image id -> running eviction; ensure() waits for it, then downloads afresh */
  private readonly evicting = new Map<string, Promise<void>>();
  /** image id -> why its last ensure() failed (reported as state "error" until one succeeds) */
  private readonly lastError = new Map<string, string>();
  /** LRU passes run one at a time */
  private limitChain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ImageCacheOptions) {
    this.dir = path.join(opts.stateDir, "images");
    this.log = opts.log ?? silentLogger;
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    const u = new URL(opts.controllerUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new Error(`controller URL must be http(s): ${opts.controllerUrl}`);
    this.base = opts.controllerUrl.replace(/\/+$/, "");
  }

  pathFor(imageId: string, file: ImageFile): string {
    // Validated again here: the id becomes a directory name.
    const parsed = safeIdSchema.safeParse(imageId);
    if (!parsed.success)
      throw new ImageCacheError("invalid", `invalid image id: ${parsed.error.issues[0]?.message ?? "bad id"}`);
    const id = parsed.data;
    if (!IMAGE_FILES.includes(file)) throw new ImageCacheError("invalid", `unknown image file "${file}"`);
    return path.join(this.dir, id, file);
  }

  /** Boot spec -> local paths (what VmManager's resolveImage wants). */
  async resolve(boot: BootLike): Promise<ResolvedImage> {
    // An ISO is the image's one file, served as "disk" like a disk image (same download and check).
    if (boot.type !== "kernel") {
      return { disk: (await this.ensure(boot.imageId, "disk", boot.sha256)) ?? undefined };
    }
    // Both at once: cached, each is a stat and a read of its .sha256; missing, two downloads in parallel.
    // An initrd is optional for kernel boot unless the spec pins its hash.
    const [kernel, initrd] = await Promise.all([
      this.ensure(boot.imageId, "kernel", boot.kernelSha256),
      this.ensure(boot.imageId, "initrd", boot.initrdSha256, { optional: !boot.initrdSha256 }),
    ]);
    return { kernel: kernel ?? undefined, ...(initrd ? { initrd } : {}) };
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
    if (sha256 !== undefined && !SHA_RE.test(sha256))
      return Promise.reject(new ImageCacheError("invalid", "sha256 must be 64 lower-case hex digits"));
    const evicting = this.evicting.get(imageId);
    if (evicting) return evicting.then(() => this.ensure(imageId, file, sha256, o));
    const key = `${imageId}/${file}`;
    const running = this.inflight.get(key);
    if (running) return running.then((p) => this.afterShared(p, final, sha256, imageId, file, o));
    const p = this.ensureUnshared(imageId, file, final, sha256, o)
      .then(
        async (r) => {
          this.lastError.delete(imageId);
          if (r !== null) await this.touch(imageId);
          return r;
        },
        (e: unknown) => {
          this.lastError.set(imageId, e instanceof Error ? e.message : String(e));
          throw e;
        },
      )
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** A joiner may ask for a hash the running download did not verify: check it too. */
  private async afterShared(
    p: string | null,
    final: string,
    sha256: string | undefined,
    imageId: string,
    file: ImageFile,
    o: { optional?: boolean },
  ): Promise<string | null> {
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

  private async ensureUnshared(
    imageId: string,
    file: ImageFile,
    final: string,
    sha256: string | undefined,
    o: { optional?: boolean },
  ): Promise<string | null> {
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
        throw new ImageCacheError(
          "unavailable",
          `image ${imageId} ${file}: sha256 mismatch (expected ${sha256}, got ${got}) after re-download`,
        );
      }
      await fsp.rename(part, final);
      await fsp.writeFile(final + ".sha256", got + "\n");
      this.log("info", "image.cached", {
        imageId,
        file,
        bytes: await sizeOf(final),
        ms: Date.now() - started,
        verified: Boolean(sha256),
      });
      await this.touch(imageId); // before the LRU pass, so this image is the newest
      await this.enforceLimit(imageId);
      return final;
    }
  }

  private dirFor(imageId: string): string {
    return path.dirname(this.pathFor(imageId, "disk"));
  }

  private async touch(imageId: string): Promise<void> {
    // Best effort: a missing marker only makes the image look older to the LRU pass.
    await fsp.writeFile(path.join(this.dirFor(imageId), LAST_USED), "").catch(() => {});
  }

  private downloading(imageId: string): boolean {
    for (const key of this.inflight.keys()) if (key.startsWith(`${imageId}/`)) return true;
    return false;
  }

  private async users(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const [imageId, vms] of (await this.opts.usersOf?.()) ?? []) {
      if (vms.length)
        out.set(
          imageId,
          vms.map((v) => (v.name && v.name !== v.id ? `${v.name} (${v.id})` : v.id)),
        );
    }
    return out;
  }

  /** Every image directory with its state, size, users and last use. */
  async list(): Promise<CachedImage[]> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(this.dir, { withFileTypes: true });
    } catch {
      return [];
    }
    const users = await this.users();
    const out: CachedImage[] = [];
    for (const ent of entries) {
      if (!ent.isDirectory() || !safeIdSchema.safeParse(ent.name).success) continue;
      const imageId = ent.name;
      const dir = path.join(this.dir, imageId);
      const names = await fsp.readdir(dir).catch(() => null);
      if (names === null) continue; // evicted meanwhile
      const complete = IMAGE_FILES.some((f) => names.includes(f));
      let lastUsedMs = 0;
      try {
        lastUsedMs = (await fsp.stat(path.join(dir, names.includes(LAST_USED) ? LAST_USED : ""))).mtimeMs;
      } catch {
        /* gone meanwhile: oldest */
      }
      const state = this.downloading(imageId)
        ? "downloading"
        : this.lastError.has(imageId) || !complete
          ? "error"
          : "ready";
      const usedBy = users.get(imageId) ?? [];
      out.push({ imageId, state, sizeBytes: await dirBytes(dir), inUse: usedBy.length > 0, lastUsedMs, usedBy });
    }
    return out.sort((a, b) => (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0));
  }

  /**
   * Removes a cached image. not_found when absent; conflict while it downloads, is being evicted,
   * or a VM on this host uses it (the message names the VMs).
   */
  async evict(imageId: string): Promise<EvictResult> {
    const dir = this.dirFor(imageId); // validates the id: it becomes a path
    if ((await sizeOf(dir)) === null)
      throw new ImageCacheError("not_found", `image ${imageId} is not cached on this host`);
    // From here to evicting.set() nothing awaits, so no download can slip in between.
    if (this.evicting.has(imageId)) throw new ImageCacheError("conflict", `image ${imageId} is already being evicted`);
    if (this.downloading(imageId))
      throw new ImageCacheError("conflict", `image ${imageId} is being downloaded; try again when it is ready`);
    let done!: () => void;
    this.evicting.set(imageId, new Promise<void>((r) => (done = r)));
    try {
      // Read the users after marking: a create that started earlier is counted by usersOf, and
      // one starting now waits in ensure() for this eviction to finish.
      const usedBy = (await this.users()).get(imageId) ?? [];
      if (usedBy.length) {
        const n = usedBy.length;
        throw new ImageCacheError(
          "conflict",
          `image ${imageId} is in use by VM${n === 1 ? "" : "s"} ${usedBy.join(", ")} on this host; delete ${n === 1 ? "it" : "them"} first`,
        );
      }
      const freedBytes = await dirBytes(dir);
      await fsp.rm(dir, { recursive: true, force: true });
      this.lastError.delete(imageId);
      this.log("info", "image.evicted", { imageId, freedBytes });
      return { imageId, evicted: true, freedBytes };
    } finally {
      this.evicting.delete(imageId);
      done();
    }
  }

  /** LRU pass after a download; never fails the download that triggered it. */
  private enforceLimit(justCached: string): Promise<void> {
    const max = this.opts.maxBytes;
    if (max === undefined) return Promise.resolve();
    const run = this.limitChain
      .then(() => this.evictToLimit(max, justCached))
      .catch((e: unknown) => this.log("warn", "image.cache_limit_failed", { error: e }));
    this.limitChain = run;
    return run;
  }

  private async evictToLimit(max: number, keep: string): Promise<void> {
    const images = await this.list();
    let total = images.reduce((n, i) => n + i.sizeBytes, 0);
    if (total <= max) return;
    const candidates = images
      .filter((i) => i.imageId !== keep && !i.inUse && i.state !== "downloading")
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    for (const c of candidates) {
      if (total <= max) break;
      try {
        total -= (await this.evict(c.imageId)).freedBytes;
        this.log("info", "image.evicted_lru", {
          imageId: c.imageId,
          lastUsed: new Date(c.lastUsedMs).toISOString(),
          cacheBytes: total,
          maxBytes: max,
        });
      } catch (e) {
        // Became busy since list(): skip it, the next download tries again.
        this.log("info", "image.evict_skipped", {
          imageId: c.imageId,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
    if (total > max)
      this.log("warn", "image.cache_over_limit", {
        cacheBytes: total,
        maxBytes: max,
        note: "the rest is in use or downloading",
      });
  }

  /**
   * The host's disk is full: the partial file goes (it would only hold the space), and the error
   * (507 through the API) says how much is free and how much the file needs.
   */
  private async noSpace(imageId: string, file: ImageFile, part: string, total: number | null) {
    await fsp.rm(part, { force: true });
    const free = await freeBytes(this.dir).catch(() => null);
    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    this.log("warn", "image.no_space", { imageId, file, freeBytes: free, needBytes: total });
    return new ImageCacheError(
      "insufficient_storage",
      `image ${imageId} ${file}: no space left on this host for the image cache (${this.dir}): ` +
        `${free === null ? "unknown" : mib(free)} free${total === null ? "" : `, the file needs ${mib(total)}`}; ` +
        "free disk space on the host or evict unused images",
    );
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
    throw new ImageCacheError(
      "unavailable",
      `image ${imageId} ${file}: download failed after ${this.maxAttempts} attempts: ${msg}`,
    );
  }

  private async downloadAttempt(imageId: string, file: ImageFile, part: string, optional: boolean): Promise<boolean> {
    const token = this.opts.getToken();
    if (!token)
      throw new ImageCacheError(
        "unavailable",
        "agent is not registered with the controller yet (no host token)",
        false,
      );
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
      const res = await (this.opts.fetch ?? fetch)(url, { headers, signal: abort.signal, redirect: "error" });
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
          throw new ImageCacheError(
            "unavailable",
            `unexpected Content-Range "${res.headers.get("content-range")}"`,
            true,
          );
        }
        append = true;
        expectedTotal = m[3] === "*" ? null : Number(m[3]);
      } else if (res.status === 200) {
        const len = res.headers.get("content-length");
        expectedTotal = len !== null && /^\d+$/.test(len) ? Number(len) : null;
      } else {
        await res.body?.cancel();
        throw new ImageCacheError(
          "unavailable",
          `controller answered ${res.status} for image ${imageId} ${file}`,
          res.status >= 500 || res.status === 429,
        );
      }
      if (!res.body) throw new ImageCacheError("unavailable", "empty response body", true);
      // A disk that cannot hold the file fails now, without a retry and without a partial file.
      const need = expectedTotal === null ? 0 : expectedTotal - offset;
      if (need > 0 && need > (await freeBytes(path.dirname(part)))) {
        await res.body.cancel();
        throw await this.noSpace(imageId, file, part, expectedTotal!);
      }

      const fh = await fsp.open(part, append ? "a" : "w", 0o644);
      let full = false;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          poke();
          await fh.write(chunk);
        }
      } catch (e) {
        if (!isNoSpace(e)) throw e;
        full = true;
      } finally {
        await fh.close();
      }
      if (full) throw await this.noSpace(imageId, file, part, expectedTotal);
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
