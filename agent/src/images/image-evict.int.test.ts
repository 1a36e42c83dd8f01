// Image cache state, eviction (by hand and LRU under --image-cache-max-gb), its agent API routes
// and its place in the heartbeat. Real files in a temp dir, stub controller on 127.0.0.1 only.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import {
  agentImageEvictResponseSchema,
  agentImageListResponseSchema,
  heartbeatRequestSchema,
  type HostFacts,
} from "../../../lib/schemas/agent-api";
import { closeServer, createAgentServer, listen, TokenVerifier, type VmBackend } from "../api";
import { parseConfig } from "../config";
import { ControllerClient, saveIdentity } from "../controller";
import { VmManager } from "../vm";
import { ImageCache } from "./image-cache";

const TOKEN = "host-token-evict-0123456789";
const blob = (n: number) => crypto.randomBytes(n);

/** Serves /api/agent/v1/images/<id>/<file> from `files`; optional delay to hold a download open. */
class StubController {
  server!: http.Server;
  url = "";
  files = new Map<string, Buffer>();
  requests: string[] = [];
  heartbeats: unknown[] = [];
  delayMs = 0;
  /** When set, image downloads wait for it: a download held "in progress" for as long as a test needs. */
  hold: Promise<void> | null = null;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => void this.handle(req, res, body));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    this.requests.push(req.url ?? "");
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    if (req.url === "/api/agent/v1/heartbeat") {
      this.heartbeats.push(JSON.parse(body));
      return void res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ ok: true, heartbeatIntervalMs: 5000 }));
    }
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.hold) await this.hold;
    const m = /^\/api\/agent\/v1\/images\/([^/]+)\/([^/]+)$/.exec(req.url ?? "");
    const data = m ? this.files.get(`${m[1]}/${m[2]}`) : undefined;
    if (!data) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": data.length }).end(data);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

type Users = Map<string, Array<{ id: string; name: string }>>;

describe("image cache: state and eviction", () => {
  const stub = new StubController();
  let root: string;
  let n = 0;
  let stateDir = "";
  let users: Users = new Map();
  const logs: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const cache = (extra: Partial<ConstructorParameters<typeof ImageCache>[0]> = {}) =>
    new ImageCache({
      stateDir,
      controllerUrl: stub.url,
      getToken: () => TOKEN,
      retryDelayMs: 10,
      usersOf: async () => users,
      log: (l, e, c) => logs.push([l, e, c]),
      ...extra,
    });
  const fresh = () => {
    stateDir = path.join(root, `s${n++}`);
    users = new Map();
    logs.length = 0;
  };
  const imgDir = (id: string) => path.join(stateDir, "images", id);
  /** a cached image as an earlier run would have left it, last used `ageS` seconds ago */
  const seed = (id: string, bytes: number, ageS: number, files: Record<string, Buffer> = { disk: blob(bytes) }) => {
    fs.mkdirSync(imgDir(id), { recursive: true });
    for (const [f, data] of Object.entries(files)) fs.writeFileSync(path.join(imgDir(id), f), data);
    const marker = path.join(imgDir(id), ".last-used");
    fs.writeFileSync(marker, "");
    const t = new Date(Date.now() - ageS * 1000);
    fs.utimesSync(marker, t, t);
  };

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-evict-"));
    await stub.start();
  });
  afterAll(async () => {
    await stub.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  afterEach(() => {
    stub.requests = [];
    stub.delayMs = 0;
    stub.files.clear();
  });

  it("lists nothing before anything was cached", async () => {
    fresh();
    expect(await cache().list()).toEqual([]);
  });

  it("reports ready / error / downloading, sizes and which VMs use each image", async () => {
    fresh();
    seed("img-ready", 1000, 60);
    seed("img-partial", 0, 60, { "disk.part": blob(300) }); // an interrupted download from an earlier run
    users = new Map([["img-ready", [{ id: "vm-1", name: "web-1" }]]]);
    stub.files.set("img-slow/disk", blob(2000));
    stub.delayMs = 300;
    const c = cache();
    const slow = c.ensure("img-slow", "disk");
    await new Promise((r) => setTimeout(r, 100));
    const list = await c.list();
    expect(list.map(({ imageId, state, inUse }) => ({ imageId, state, inUse }))).toEqual([
      { imageId: "img-partial", state: "error", inUse: false },
      { imageId: "img-ready", state: "ready", inUse: true },
      { imageId: "img-slow", state: "downloading", inUse: false },
    ]);
    expect(list.find((i) => i.imageId === "img-ready")).toMatchObject({ sizeBytes: 1000, usedBy: ["web-1 (vm-1)"] });
    expect(list.find((i) => i.imageId === "img-partial")!.sizeBytes).toBe(300);
    await slow;
    expect((await c.list()).find((i) => i.imageId === "img-slow")).toMatchObject({
      state: "ready",
      sizeBytes: 2000 + 65,
    }); // + the .sha256 sidecar
  });

  it("a failed download is state error until a later one succeeds", async () => {
    fresh();
    const c = cache({ maxAttempts: 1 });
    fs.mkdirSync(imgDir("img-x"), { recursive: true });
    await expect(c.ensure("img-x", "disk")).rejects.toMatchObject({ code: "invalid" }); // 404 on the controller
    expect((await c.list())[0]).toMatchObject({ imageId: "img-x", state: "error" });
    stub.files.set("img-x/disk", blob(10));
    await c.ensure("img-x", "disk");
    expect((await c.list())[0]).toMatchObject({ imageId: "img-x", state: "ready" });
  });

  it("evicts an unused image and frees its bytes; a later ensure downloads it again", async () => {
    fresh();
    const data = blob(4096);
    stub.files.set("img-1/disk", data);
    const c = cache();
    await c.ensure("img-1", "disk");
    const r = await c.evict("img-1");
    expect(r.evicted).toBe(true);
    expect(r.freedBytes).toBeGreaterThanOrEqual(4096);
    expect(agentImageEvictResponseSchema.safeParse(r).success).toBe(true);
    expect(fs.existsSync(imgDir("img-1"))).toBe(false);
    expect(await c.list()).toEqual([]);
    stub.requests = [];
    expect(fs.readFileSync((await c.ensure("img-1", "disk"))!).equals(data)).toBe(true);
    expect(stub.requests).toHaveLength(1);
  });

  it("refuses: not cached (404), in use (409 naming the VMs), downloading (409), bad ids (invalid)", async () => {
    fresh();
    const c = cache();
    await expect(c.evict("img-none")).rejects.toMatchObject({ code: "not_found" });
    seed("img-used", 100, 10);
    users = new Map([
      [
        "img-used",
        [
          { id: "vm-a", name: "web-a" },
          { id: "vm-b", name: "vm-b" },
        ],
      ],
    ]);
    await expect(c.evict("img-used")).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/in use by VMs web-a \(vm-a\), vm-b on this host/),
    });
    expect(fs.existsSync(imgDir("img-used"))).toBe(true);

    stub.files.set("img-dl/disk", blob(100));
    let release!: () => void;
    stub.hold = new Promise<void>((r) => (release = r));
    const dl = c.ensure("img-dl", "disk");
    // The download is in flight once the stub has seen its request (no wall-clock guess).
    while (!stub.requests.some((u) => u.includes("/images/img-dl/"))) await new Promise((r) => setTimeout(r, 5));
    await expect(c.evict("img-dl")).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/being downloaded/),
    });
    release();
    stub.hold = null;
    await dl;

    for (const bad of ["../images", "a/b", "", "-x", ".."])
      await expect(c.evict(bad)).rejects.toMatchObject({ code: "invalid" });
    expect(fs.existsSync(path.join(stateDir, "images"))).toBe(true);
  });

  it("an ensure that arrives during an eviction waits for it, then downloads afresh", async () => {
    fresh();
    seed("img-r", 100, 10);
    stub.files.set("img-r/disk", blob(50));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = cache({ usersOf: async () => (await gate, new Map()) }); // hold the eviction after it marked the image
    const evicting = c.evict("img-r");
    await new Promise((r) => setTimeout(r, 20));
    const ensuring = c.ensure("img-r", "disk");
    await new Promise((r) => setTimeout(r, 50));
    expect(stub.requests).toHaveLength(0);
    release();
    await evicting;
    expect(fs.statSync((await ensuring)!).size).toBe(50);
    expect(stub.requests).toHaveLength(1);
  });

  it("LRU: after a download, evicts least-recently-used unused images until under the limit", async () => {
    fresh();
    const KB = 1024;
    seed("img-old-used", 40 * KB, 400); // oldest, but a VM boots from it: kept
    seed("img-old", 30 * KB, 300);
    seed("img-mid", 30 * KB, 200);
    seed("img-new", 30 * KB, 100);
    users = new Map([["img-old-used", [{ id: "vm-1", name: "vm-1" }]]]);
    stub.files.set("img-fresh/disk", blob(30 * KB));
    // 160 KiB after the download; limit 110 KiB -> img-old and img-mid go (oldest unused first).
    const c = cache({ maxBytes: 110 * KB });
    await c.ensure("img-fresh", "disk");
    const left = (await c.list()).map((i) => i.imageId);
    expect(left).toEqual(["img-fresh", "img-new", "img-old-used"]);
    expect(logs.filter(([, e]) => e === "image.evicted_lru").map(([, , ctx]) => ctx?.imageId)).toEqual([
      "img-old",
      "img-mid",
    ]);
  });

  it("LRU: a cache hit counts as a use; nothing is evicted without a download or under the limit", async () => {
    fresh();
    seed("img-a", 1000, 300);
    seed("img-b", 1000, 200);
    const c = cache({ maxBytes: 2500 });
    await c.ensure("img-a", "disk"); // cached: no download, but img-a is now the newest
    expect((await c.list()).map((i) => i.imageId)).toEqual(["img-a", "img-b"]);
    stub.files.set("img-c/disk", blob(1000));
    await c.ensure("img-c", "disk");
    expect((await c.list()).map((i) => i.imageId)).toEqual(["img-a", "img-c"]);
  });

  it("LRU: warns when only in-use images are left over the limit", async () => {
    fresh();
    seed("img-u", 5000, 300);
    users = new Map([["img-u", [{ id: "vm-1", name: "vm-1" }]]]);
    stub.files.set("img-c/disk", blob(1000));
    await cache({ maxBytes: 1000 }).ensure("img-c", "disk");
    expect(fs.existsSync(imgDir("img-u"))).toBe(true);
    expect(fs.existsSync(imgDir("img-c"))).toBe(true);
    expect(logs.some(([l, e]) => l === "warn" && e === "image.cache_over_limit")).toBe(true);
  });

  it("the heartbeat carries the image list in the contract's shape", async () => {
    fresh();
    seed("img-h", 123, 10);
    users = new Map([["img-h", [{ id: "vm-1", name: "web" }]]]);
    await saveIdentity(stateDir, {
      hostId: "h-1",
      hostToken: TOKEN,
      controllerUrl: stub.url,
      machineId: "m-1",
      registeredAt: new Date().toISOString(),
    });
    const facts = { machineId: "m-1" } as HostFacts;
    const c = cache();
    const client = new ControllerClient({
      controllerUrl: stub.url,
      stateDir,
      agentUrl: "http://127.0.0.1:7101",
      getFacts: () => facts,
      getUsage: async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }),
      listVms: async () => [],
      listImages: () => c.list(),
    });
    await client.loadIdentity();
    stub.heartbeats = [];
    // Facts go with the first heartbeat only; the stub facts are partial, so send one to clear them.
    await client.heartbeat().catch(() => {});
    await client.heartbeat();
    // Images go only when the report changed since the last acknowledged heartbeat (diff-only).
    const body = stub.heartbeats.filter((b) => (b as Record<string, unknown>).images).at(-1) as Record<string, unknown>;
    expect(body.images).toEqual([{ imageId: "img-h", state: "ready", sizeBytes: 123, inUse: true }]);
    // The full report also carries this test's partial stub facts: the contract is checked without them.
    expect(heartbeatRequestSchema.safeParse({ ...body, facts: undefined }).success).toBe(true);

    // A cache that cannot be read leaves `images` out: the controller keeps its records.
    const broken = new ControllerClient({
      controllerUrl: stub.url,
      stateDir,
      agentUrl: "http://127.0.0.1:7101",
      getFacts: () => facts,
      getUsage: async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }),
      listVms: async () => [],
      listImages: async () => {
        throw new Error("disk on fire");
      },
    });
    await broken.loadIdentity();
    await broken.heartbeat().catch(() => {});
    await broken.heartbeat();
    expect(stub.heartbeats.at(-1)).not.toHaveProperty("images");
  });

  it("old agents' heartbeats (no images) still validate; the list is capped at 10000", () => {
    const base = { usage: { cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }, vms: [] };
    expect(heartbeatRequestSchema.safeParse(base).success).toBe(true);
    const one = { imageId: "i", state: "ready", sizeBytes: 0, inUse: false };
    expect(
      heartbeatRequestSchema.safeParse({ ...base, images: Array.from({ length: 10001 }, () => one) }).success,
    ).toBe(false);
    expect(heartbeatRequestSchema.safeParse({ ...base, images: [{ ...one, imageId: "../x" }] }).success).toBe(false);
    expect(heartbeatRequestSchema.safeParse({ ...base, images: [{ ...one, state: "gone" }] }).success).toBe(false);
  });
});

describe("--image-cache-max-gb", () => {
  const base = ["--controller", "http://127.0.0.1:3000"];
  it("is optional, accepts GiB (fractions too) from the flag or the environment, refuses nonsense", () => {
    const get = (argv: string[], env: Record<string, string> = {}) => {
      const c = parseConfig([...base, ...argv], env);
      if (c === "help") throw new Error("help");
      return c.imageCacheMaxGb;
    };
    expect(get([])).toBeUndefined();
    expect(get(["--image-cache-max-gb", "20"])).toBe(20);
    expect(get(["--image-cache-max-gb", "0.5"])).toBe(0.5);
    expect(get([], { POLYARCH_IMAGE_CACHE_MAX_GB: "7" })).toBe(7);
    for (const bad of ["0", "-1", "lots"])
      expect(() => get(["--image-cache-max-gb", bad])).toThrow(/image-cache-max-gb/);
  });
});

describe("VmManager.imageUsers", () => {
  it("counts a VM from the start of its create (while its image downloads) and drops it when the create fails", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-evict-mgr-"));
    let fail!: (e: Error) => void;
    const manager = new VmManager({
      stateDir: path.join(root, "state"),
      hostArch: "x86_64",
      kvm: false,
      qemuBinaries: { x86_64: "/usr/bin/qemu-system-x86_64" },
      firmware: {},
      resolveImage: () => new Promise((_resolve, reject) => (fail = reject)),
      hostLimits: { cpuCount: 2, memoryMb: 4096 },
    });
    try {
      await manager.init();
      const creating = manager.apply("vm-c", {
        name: "web-c",
        arch: "x86_64",
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        boot: { type: "kernel", imageId: "img-k", cmdline: "" },
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(await manager.imageUsers()).toEqual(new Map([["img-k", [{ id: "vm-c", name: "web-c" }]]]));
      fail(new Error("no image source in this test"));
      await expect(creating).rejects.toMatchObject({ code: "unavailable" });
      expect(await manager.imageUsers()).toEqual(new Map());
    } finally {
      await manager.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("agent API: /v1/images", () => {
  const noVms: VmBackend = {
    list: async () => [],
    get: async () => {
      throw Object.assign(new Error("no VM"), { code: "not_found" });
    },
    apply: async () => {
      throw new Error("unused");
    },
    action: async () => {
      throw new Error("unused");
    },
    delete: async () => undefined,
  };
  const facts = { arch: "x86_64" } as HostFacts;
  let root: string;
  let stateDir: string;
  let users: Users = new Map();
  let server: http.Server;
  let bare: http.Server;
  let port = 0;
  let barePort = 0;

  const call = async (p: number, method: string, rawPath: string, token: string | null = TOKEN) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    new Promise<{ status: number; body: any; allow?: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: p,
          method,
          path: rawPath,
          headers: token ? { authorization: `Bearer ${token}` } : {},
          agent: false,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c) => (text += c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: text ? JSON.parse(text) : undefined,
              allow: res.headers.allow,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-evict-api-"));
    stateDir = path.join(root, "state");
    const images = new ImageCache({
      stateDir,
      controllerUrl: "http://127.0.0.1:9",
      getToken: () => TOKEN,
      usersOf: async () => users,
    });
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    const usage = async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] });
    server = createAgentServer({ facts: () => facts, usage, vms: noVms, images, auth });
    port = (await listen(server, "127.0.0.1", 0)).port;
    // An agent without a controller has no cache at all.
    bare = createAgentServer({ facts: () => facts, usage, vms: noVms, auth });
    barePort = (await listen(bare, "127.0.0.1", 0)).port;
  });
  afterAll(async () => {
    await closeServer(server);
    await closeServer(bare);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const seed = (id: string, bytes: number) => {
    fs.mkdirSync(path.join(stateDir, "images", id), { recursive: true });
    fs.writeFileSync(path.join(stateDir, "images", id, "disk"), blob(bytes));
  };

  it("401 without the host token", async () => {
    for (const [m, p] of [
      ["GET", "/v1/images"],
      ["DELETE", "/v1/images/img-1"],
    ] as const) {
      const r = await call(port, m, p, null);
      expect(r.status, `${m} ${p}`).toBe(401);
      expect((await call(port, m, p, "wrong-token")).status).toBe(401);
    }
  });

  it("GET lists the cache in the contract's shape (no internals)", async () => {
    expect(await call(port, "GET", "/v1/images")).toMatchObject({ status: 200, body: { images: [] } });
    seed("img-1", 500);
    seed("img-2", 700);
    users = new Map([["img-2", [{ id: "vm-9", name: "db" }]]]);
    const r = await call(port, "GET", "/v1/images");
    expect(r.status).toBe(200);
    expect(agentImageListResponseSchema.safeParse(r.body).success).toBe(true);
    expect(r.body.images).toEqual([
      { imageId: "img-1", state: "ready", sizeBytes: 500, inUse: false },
      { imageId: "img-2", state: "ready", sizeBytes: 700, inUse: true },
    ]);
  });

  it("DELETE: 409 while in use (naming the VM), 200 when unused, then 404", async () => {
    const busy = await call(port, "DELETE", "/v1/images/img-2");
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: "conflict", message: expect.stringContaining("db (vm-9)") });
    expect(fs.existsSync(path.join(stateDir, "images", "img-2"))).toBe(true);
    const ok = await call(port, "DELETE", "/v1/images/img-1");
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ imageId: "img-1", evicted: true, freedBytes: 500 });
    expect(fs.existsSync(path.join(stateDir, "images", "img-1"))).toBe(false);
    expect((await call(port, "DELETE", "/v1/images/img-1")).status).toBe(404);
  });

  it.each(["..", "%2e%2e", "a%2Fb", "a/b", "..%2F..%2Fetc", "-x", "%zz", "a".repeat(65)])(
    "400 for the image id %s, nothing removed",
    async (id) => {
      const r = await call(port, "DELETE", `/v1/images/${id}`);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("invalid");
      expect(fs.existsSync(path.join(stateDir, "images", "img-2"))).toBe(true);
    },
  );

  it("405 for other methods", async () => {
    expect(await call(port, "POST", "/v1/images")).toMatchObject({ status: 405, allow: "GET" });
    expect(await call(port, "GET", "/v1/images/img-2")).toMatchObject({ status: 405, allow: "DELETE" });
  });

  it("an agent without a controller has an empty cache", async () => {
    expect(await call(barePort, "GET", "/v1/images")).toMatchObject({ status: 200, body: { images: [] } });
    expect((await call(barePort, "DELETE", "/v1/images/img-2")).status).toBe(404);
  });
});
