// The image cache on a full disk (issue 15): the agent's state directory on a real 8 MiB tmpfs, a
// stand-in controller on 127.0.0.1 serving an image with and without Content-Length. A file that
// cannot fit fails at once (no retries, which could not help) with insufficient_storage naming the
// free space, and leaves no partial file; once space is freed the same download succeeds.
// Needs root for the mount (CI runs as root): skipped with the reason otherwise.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { listenOnLoopback, stopServer } from "../testing/support";
import { ImageCache } from "./image-cache";

const MiB = 1024 * 1024;
const DATA = crypto.randomBytes(6 * MiB);
const SHA = crypto.createHash("sha256").update(DATA).digest("hex");
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn("image cache disk-full tests skipped: mounting a tmpfs needs root (CI runs them as root)");

describe.skipIf(!isRoot)("image cache on a full disk", () => {
  let mount = "";
  let mounted = false;
  let server: http.Server | null = null;
  let url = "";
  const requests: string[] = [];
  const filler = () => path.join(mount, "filler");

  beforeAll(async () => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), "pa-cachefull-"));
    // A test that cannot mount as root must fail, not skip: the fault would go unproven.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", mount]);
    mounted = true;
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      // "chunked": no Content-Length, so the cache learns the size only by writing.
      if (req.url?.endsWith("/chunked/disk")) {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        for (let i = 0; i < DATA.length; i += MiB) res.write(DATA.subarray(i, i + MiB));
        return void res.end();
      }
      res.writeHead(200, { "content-length": DATA.length }).end(DATA);
    });
    url = await listenOnLoopback(server);
  });

  afterAll(async () => {
    if (server) await stopServer(server);
    if (mounted) execFileSync("umount", [mount]);
    fs.rmSync(mount, { recursive: true, force: true });
  });

  const cache = (stateDir: string) =>
    new ImageCache({ stateDir, controllerUrl: url, getToken: () => "t", retryDelayMs: 10, maxAttempts: 4 });

  /** Every file under the cache: a refused download must leave none (no .part). */
  const files = (dir: string): string[] =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => e.name)
      : [];

  it.each([
    ["declared size", "sized"],
    ["no Content-Length: found while writing", "chunked"],
  ])("%s: insufficient_storage at the first attempt, no partial file; freed, it downloads", async (_, imageId) => {
    const stateDir = path.join(mount, imageId);
    fs.writeFileSync(filler(), Buffer.alloc(4 * MiB));
    const c = cache(stateDir);
    requests.length = 0;
    const started = Date.now();
    const err = (await c.ensure(imageId, "disk", SHA).catch((e: unknown) => e)) as { code?: string; message?: string };
    expect(err).toMatchObject({
      code: "insufficient_storage",
      message: expect.stringMatching(
        new RegExp(`^image ${imageId} disk: no space left on this host for the image cache .*: [\\d.]+ MiB free`),
      ),
    });
    if (imageId === "sized") expect(err.message).toMatch(/the file needs 6\.0 MiB/);
    console.info(`[disk-full] image cache (${imageId}): failed in ${Date.now() - started} ms: ${err.message}`);
    expect(requests).toHaveLength(1);
    expect(files(c.dir)).toEqual([]);
    // The cache reports the failure for the host-caches page until a download succeeds.
    expect((await c.list()).find((i) => i.imageId === imageId)).toMatchObject({ state: "error", sizeBytes: 0 });

    fs.rmSync(filler());
    await expect(c.ensure(imageId, "disk", SHA)).resolves.toBe(path.join(c.dir, imageId, "disk"));
    expect(files(path.join(c.dir, imageId)).sort()).toEqual([".last-used", "disk", "disk.sha256"]);
    fs.rmSync(stateDir, { recursive: true });
  });
});
