import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { ImageCache } from "./image-cache";

const TOKEN = "host-token-abcdef";
const DATA = crypto.randomBytes(3 * 1024 * 1024 + 123);
const SHA = crypto.createHash("sha256").update(DATA).digest("hex");
const KERNEL = Buffer.from("kernel-bytes");
const KERNEL_SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");

interface Behaviour {
  /** cut the connection after this many bytes, for the first N requests */
  cutAfter?: number;
  cutTimes?: number;
  /** serve corrupted bytes for the first N requests */
  corruptTimes?: number;
  /** delay before answering (to overlap concurrent requests) */
  delayMs?: number;
  ignoreRange?: boolean;
}

/** Tiny stand-in for the controller's image endpoint, on 127.0.0.1 only. */
class StubController {
  server!: http.Server;
  url = "";
  requests: Array<{ path: string; range?: string; auth?: string }> = [];
  behaviour: Behaviour = {};
  files = new Map<string, Buffer>([
    ["img-1/disk", DATA],
    ["kimg/kernel", KERNEL],
  ]);

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.requests.push({ path: req.url ?? "", range: req.headers.range, auth: req.headers.authorization });
    const b = this.behaviour;
    if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    const m = /^\/api\/agent\/v1\/images\/([^/]+)\/([^/]+)$/.exec(req.url ?? "");
    const body = m ? this.files.get(`${m[1]}/${m[2]}`) : undefined;
    if (!body) return void res.writeHead(404).end();
    let data = body;
    if (b.corruptTimes && b.corruptTimes > 0) {
      b.corruptTimes--;
      data = Buffer.from(body);
      data[10] = data[10]! ^ 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range && !b.ignoreRange) {
      start = Number(range[1]);
      if (start >= data.length) return void res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
      res.writeHead(206, {
        "content-length": data.length - start,
        "content-range": `bytes ${start}-${data.length - 1}/${data.length}`,
      });
    } else {
      res.writeHead(200, { "content-length": data.length });
    }
    const slice = data.subarray(start);
    if (b.cutAfter !== undefined && (b.cutTimes ?? 1) > 0) {
      b.cutTimes = (b.cutTimes ?? 1) - 1;
      res.write(slice.subarray(0, b.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  }
}

describe("ImageCache", () => {
  const stub = new StubController();
  let root: string;
  let n = 0;
  let stateDir = "";
  const cache = (extra: Partial<ConstructorParameters<typeof ImageCache>[0]> = {}) =>
    new ImageCache({ stateDir, controllerUrl: stub.url, getToken: () => TOKEN, retryDelayMs: 10, ...extra });

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-img-"));
    await stub.start();
  });
  afterAll(async () => {
    await stub.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  afterEach(() => {
    stub.requests = [];
    stub.behaviour = {};
  });
  const fresh = () => {
    stateDir = path.join(root, `s${n++}`);
  };

  it("downloads, verifies, caches; second call does not hit the network", async () => {
    fresh();
    const c = cache();
    const p = await c.ensure("img-1", "disk", SHA);
    expect(p).toBe(path.join(stateDir, "images", "img-1", "disk"));
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
    expect(fs.existsSync(p + ".part")).toBe(false);
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]!.auth).toBe(`Bearer ${TOKEN}`);
    expect(await c.ensure("img-1", "disk", SHA)).toBe(p);
    expect(await cache().ensure("img-1", "disk")).toBe(p); // new process, no hash: trusts the cache
    expect(stub.requests).toHaveLength(1);
  });

  it("resumes with a Range header after the connection is cut half-way", async () => {
    fresh();
    stub.behaviour = { cutAfter: 1024 * 1024, cutTimes: 1 };
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
    expect(stub.requests).toHaveLength(2);
    expect(stub.requests[0]!.range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(stub.requests[1]!.range ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(1024 * 1024);
  });

  it("resumes a .part left by an earlier run", async () => {
    fresh();
    const dir = path.join(stateDir, "images", "img-1");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "disk.part"), DATA.subarray(0, 5000));
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
    expect(stub.requests.map((r) => r.range)).toEqual(["bytes=5000-"]);
  });

  it("restarts when the server ignores Range (200 instead of 206)", async () => {
    fresh();
    const dir = path.join(stateDir, "images", "img-1");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "disk.part"), DATA.subarray(0, 5000));
    stub.behaviour = { ignoreRange: true };
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
  });

  it("a corrupt download is deleted and fetched again once", async () => {
    fresh();
    stub.behaviour = { corruptTimes: 1 };
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
    expect(stub.requests).toHaveLength(2);
    expect(stub.requests[1]!.range).toBeUndefined(); // from scratch, not resumed
  });

  it("a corrupt .part from an earlier run is detected and replaced", async () => {
    fresh();
    const dir = path.join(stateDir, "images", "img-1");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "disk.part"), Buffer.alloc(5000, 7));
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
  });

  it("fails after a second mismatch and leaves nothing behind", async () => {
    fresh();
    stub.behaviour = { corruptTimes: 2 };
    await expect(cache().ensure("img-1", "disk", SHA)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/sha256 mismatch/),
    });
    const dir = path.join(stateDir, "images", "img-1");
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(stub.requests).toHaveLength(2);
  });

  it("concurrent requests share one download", async () => {
    fresh();
    stub.behaviour = { delayMs: 150 };
    const c = cache();
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => c.ensure("img-1", "disk", SHA)));
    expect(new Set(results).size).toBe(1);
    expect(stub.requests).toHaveLength(1);
  });

  it("a cached file whose hash differs from the spec's is replaced", async () => {
    fresh();
    const dir = path.join(stateDir, "images", "img-1");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "disk"), "stale");
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
  });

  it("404 is an error, or null for an optional file; kernel boot resolves without an initrd", async () => {
    fresh();
    await expect(cache().ensure("nope", "disk")).rejects.toMatchObject({ code: "invalid" });
    expect(await cache().ensure("nope", "initrd", undefined, { optional: true })).toBeNull();
    const r = await cache().resolve({ type: "kernel", imageId: "kimg", kernelSha256: KERNEL_SHA });
    expect(r).toEqual({ kernel: path.join(stateDir, "images", "kimg", "kernel") });
    await expect(cache().resolve({ type: "kernel", imageId: "kimg", initrdSha256: SHA })).rejects.toMatchObject({
      code: "invalid",
    });
  });

  it("an ISO (boot type iso, or a CD medium) is the image's disk file, verified like a disk image", async () => {
    fresh();
    const want = { disk: path.join(stateDir, "images", "img-1", "disk") };
    expect(await cache().resolve({ type: "iso", imageId: "img-1", sha256: SHA })).toEqual(want);
    expect(await cache().resolve({ type: "cdrom", imageId: "img-1" })).toEqual(want);
    expect(stub.requests.map((r) => r.path)).toEqual(["/api/agent/v1/images/img-1/disk"]);
    // a medium whose hash disagrees is fetched again and refused when it still does not match
    await expect(
      cache({ maxAttempts: 1 }).resolve({ type: "cdrom", imageId: "img-1", sha256: KERNEL_SHA }),
    ).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/sha256 mismatch/),
    });
  });

  it("refuses unsafe image ids before touching the disk or network", async () => {
    fresh();
    await expect(cache().ensure("../etc", "disk")).rejects.toMatchObject({ code: "invalid" });
    await expect(cache().ensure("a/b", "disk")).rejects.toMatchObject({ code: "invalid" });
    expect(stub.requests).toHaveLength(0);
    expect(fs.existsSync(stateDir)).toBe(false);
  });

  it("no token: unavailable, no request", async () => {
    fresh();
    await expect(cache({ getToken: () => null }).ensure("img-1", "disk")).rejects.toMatchObject({
      code: "unavailable",
    });
    expect(stub.requests).toHaveLength(0);
  });

  it("gives up after repeated cuts with a clear error, keeping the partial data for next time", async () => {
    fresh();
    stub.behaviour = { cutAfter: 1000, cutTimes: 100 };
    await expect(cache({ maxAttempts: 3 }).ensure("img-1", "disk", SHA)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/after 3 attempts/),
    });
    const part = path.join(stateDir, "images", "img-1", "disk.part");
    expect(fs.statSync(part).size).toBeGreaterThan(0);
    stub.behaviour = {};
    const p = await cache().ensure("img-1", "disk", SHA);
    expect(fs.readFileSync(p!).equals(DATA)).toBe(true);
  });
});
