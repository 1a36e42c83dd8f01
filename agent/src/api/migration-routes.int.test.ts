// Migration routes of the agent API (ADR 035) with a REAL VmManager and no guest boot: the host
// token, id / disk-name / body validation, the wrong-state refusals, idempotent cancel/abort/
// release, and a cold disk round trip through GET and PUT /v1/vms/:id/disks/:disk (length and
// SHA-256 checked, nothing kept on a mismatch, 507 when the declared size cannot fit).
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostFacts, VmSpecInput } from "../../../lib/schemas/agent-api";
import { DISK_SHA256_HEADER } from "../../../lib/schemas/agent-migration";
import { VmManager } from "../vm";
import { TokenVerifier } from "./auth";
import { closeServer, createAgentServer, listen } from "./server";

const TOKEN = "agent-migration-token-0123456789";
const hasQemuImg = (process.env.PATH ?? "").split(":").some((d) => fs.existsSync(path.join(d, "qemu-img")));

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  raw: Buffer;
  headers: http.IncomingHttpHeaders;
}

function request(
  port: number,
  method: string,
  rawPath: string,
  opts: { token?: string | null; body?: string | Buffer; headers?: Record<string, string>; partial?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? TOKEN : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined && !headers["content-length"])
      headers["content-length"] = String(Buffer.byteLength(opts.body));
    const req = http.request({ host: "127.0.0.1", port, method, path: rawPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const raw = Buffer.concat(chunks);
        let body: unknown = raw.toString("utf8");
        try {
          body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
        } catch {
          /* binary or text */
        }
        resolve({ status: res.statusCode ?? 0, body, raw, headers: res.headers });
        if (opts.partial) req.destroy();
      });
    });
    req.on("error", (err) => (opts.partial ? undefined : reject(err)));
    if (opts.body !== undefined) req.write(opts.body);
    if (!opts.partial) req.end();
  });
}

const facts: HostFacts = {
  hostname: "test",
  machineId: "m-test",
  arch: "x86_64",
  cpuCount: 2,
  cpuModel: "test cpu",
  memoryMb: 4096,
  diskGb: 100,
  kvm: false,
  qemu: { version: "7.2.22", binaries: { x86_64: "/usr/bin/qemu-system-x86_64" }, firmware: {} },
  ovs: { available: false, version: null, datapath: null },
  nativeArches: [],
  emulatedArches: ["x86_64"],
  maxVcpusNative: null,
  maxVcpusEmulated: 2,
  agentVersion: "0.1.0",
};

const spec = (over: Partial<VmSpecInput> = {}): VmSpecInput => ({
  name: "vm-one",
  arch: "x86_64",
  vcpus: 1,
  memoryMb: 128,
  diskGb: 1,
  boot: { type: "kernel", imageId: "img-k", cmdline: "" },
  powerState: "stopped",
  ...over,
});

const json = (v: unknown) => JSON.stringify(v);

describe.skipIf(!hasQemuImg)("agent migration routes (real VmManager, no guest)", () => {
  let root: string;
  let stateDir: string;
  let manager: VmManager;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-migr-"));
    stateDir = path.join(root, "state");
    const kernel = path.join(root, "vmlinuz");
    fs.writeFileSync(kernel, "not really a kernel: this test never starts QEMU");
    manager = new VmManager({
      stateDir,
      hostArch: "x86_64",
      kvm: false,
      qemuBinaries: facts.qemu.binaries,
      firmware: {},
      resolveImage: async () => ({ kernel }),
      hostLimits: { cpuCount: 2, memoryMb: 4096 },
    });
    await manager.init();
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    server = createAgentServer({
      facts: () => facts,
      usage: async () => ({ cpuPct: 0, memoryUsedMb: 1, diskUsedGb: 0, loadAvg: [0, 0, 0] }),
      vms: manager,
      auth,
    });
    port = (await listen(server, "127.0.0.1", 0)).port;
    expect((await request(port, "PUT", "/v1/vms/stopped-one", { body: json(spec()) })).status).toBe(201);
  });

  afterAll(async () => {
    await closeServer(server);
    await manager.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("every migration route needs the host token (401)", async () => {
    for (const [method, p] of [
      ["POST", "/v1/vms/a/migration/incoming"],
      ["POST", "/v1/vms/a/migration/outgoing"],
      ["POST", "/v1/vms/a/migration/complete"],
      ["POST", "/v1/vms/a/migration/cancel"],
      ["POST", "/v1/vms/a/migration/abort"],
      ["POST", "/v1/vms/a/migration/release"],
      ["GET", "/v1/vms/a/disks/root"],
      ["PUT", "/v1/vms/a/disks/root"],
    ] as const) {
      for (const token of [null, "wrong-token"]) {
        const r = await request(port, method, p, { token, body: method === "GET" ? undefined : "{}" });
        expect(r.status, `${method} ${p} with token ${token}`).toBe(401);
      }
    }
  });

  it("refuses bad ids, disk names, operations and methods", async () => {
    expect((await request(port, "POST", "/v1/vms/..%2Fx/migration/cancel")).status).toBe(400);
    expect((await request(port, "POST", "/v1/vms/has%20space/migration/cancel")).status).toBe(400);
    expect((await request(port, "GET", "/v1/vms/stopped-one/disks/..%2Fetc")).status).toBe(400);
    expect((await request(port, "GET", "/v1/vms/stopped-one/disks/a%2Fb")).status).toBe(400);
    const op = await request(port, "POST", "/v1/vms/stopped-one/migration/teleport");
    expect(op.status).toBe(404);
    expect(op.body.error.message).toContain("incoming");
    expect((await request(port, "GET", "/v1/vms/stopped-one/migration/incoming")).status).toBe(405);
    expect((await request(port, "DELETE", "/v1/vms/stopped-one/disks/root")).status).toBe(405);
  });

  it("refuses bad bodies and headers (400) before touching the disk", async () => {
    const before = fs.readdirSync(stateDir, { recursive: true }).map(String).sort();
    const bad = [
      ["incoming", {}],
      ["incoming", { spec: spec(), disks: [] }],
      ["incoming", { spec: spec(), disks: [{ name: "vol-a", sizeBytes: 1 }] }], // no root
      [
        "outgoing",
        {
          target: {
            migrationUri: "exec:rm -rf /",
            nbd: { host: "h", port: 1, exports: [{ disk: "root", name: "r" }] },
          },
        },
      ],
      ["outgoing", { target: { migrationUri: "tcp:127.0.0.1:1", nbd: { host: "h", port: 0, exports: [] } } }],
    ] as const;
    for (const [op, body] of bad) {
      const r = await request(port, "POST", `/v1/vms/new-one/migration/${op}`, { body: json(body) });
      expect(r.status, `${op} ${json(body)}`).toBe(400);
    }
    expect((await request(port, "POST", "/v1/vms/new-one/migration/incoming", { body: "{not json" })).status).toBe(400);
    // PUT disk: the SHA-256 header is required and must be hex
    const noSha = await request(port, "PUT", "/v1/vms/new-one/disks/root", { body: "x" });
    expect(noSha.status).toBe(400);
    const badSha = await request(port, "PUT", "/v1/vms/new-one/disks/root", {
      body: "x",
      headers: { [DISK_SHA256_HEADER]: "zz" },
    });
    expect(badSha.status).toBe(400);
    const tooBig = await request(port, "PUT", "/v1/vms/new-one/disks/root", {
      body: "x",
      headers: { [DISK_SHA256_HEADER]: "0".repeat(64), "content-length": String(65 * 1024 ** 4) },
      partial: true,
    });
    expect(tooBig.status).toBe(400);
    expect(fs.readdirSync(stateDir, { recursive: true }).map(String).sort()).toEqual(before);
  });

  it("refuses the wrong state (409 / 404) and is idempotent where the protocol says so", async () => {
    const out = await request(port, "POST", "/v1/vms/stopped-one/migration/outgoing", {
      body: json({
        target: {
          migrationUri: "tcp:127.0.0.1:1",
          nbd: { host: "127.0.0.1", port: 1, exports: [{ disk: "root", name: "root" }] },
        },
      }),
    });
    expect(out.status).toBe(409);
    expect(out.body.error.message).toMatch(/not running/);
    const inc = await request(port, "POST", "/v1/vms/stopped-one/migration/incoming", {
      body: json({ spec: spec(), disks: [{ name: "root", sizeBytes: 1024 ** 3 }] }),
    });
    expect(inc.status).toBe(409);
    expect(inc.body.error.message).toMatch(/already exists/);
    const big = await request(port, "POST", "/v1/vms/big-one/migration/incoming", {
      body: json({ spec: spec({ name: "big-one" }), disks: [{ name: "root", sizeBytes: 60 * 1024 ** 4 }] }),
    });
    expect(big.status).toBe(507);
    expect(fs.existsSync(path.join(stateDir, "vms", "big-one"))).toBe(false);
    // complete again (a retry after a lost answer) is the VM's status: it is owned here already
    const done = await request(port, "POST", "/v1/vms/stopped-one/migration/complete");
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: "stopped-one", powerState: "shutoff", generation: 1 });
    expect((await request(port, "POST", "/v1/vms/ghost/migration/complete")).status).toBe(404);
    // cancel / abort / release of a VM this host does not know: done already
    expect((await request(port, "POST", "/v1/vms/ghost/migration/cancel")).body).toEqual({
      id: "ghost",
      aborted: true,
    });
    expect((await request(port, "POST", "/v1/vms/ghost/migration/abort")).body).toEqual({ id: "ghost", aborted: true });
    expect((await request(port, "POST", "/v1/vms/ghost/migration/release")).body).toEqual({
      id: "ghost",
      released: true,
    });
    // abort of a VM that is not incoming is refused: it would kill a VM this host owns
    expect((await request(port, "POST", "/v1/vms/stopped-one/migration/abort")).status).toBe(409);
    expect((await request(port, "GET", "/v1/vms/ghost/disks/root")).status).toBe(404);
    // a flattened copy would drop the VM's snapshots: refused until they are deleted
    await manager.createSnapshot("stopped-one", { id: "s1", memory: false });
    const withSnap = await request(port, "GET", "/v1/vms/stopped-one/disks/root");
    expect(withSnap.status).toBe(409);
    expect(withSnap.body.error.message).toContain("delete its 1 snapshots first");
    await manager.deleteSnapshot("stopped-one", "s1");
    expect((await request(port, "GET", "/v1/vms/stopped-one/disks/vol-x")).status).toBe(404);
  });

  it("a cold disk round trip: GET with its SHA-256, PUT verified, corrupt or oversized bodies kept nowhere", async () => {
    const got = await request(port, "GET", "/v1/vms/stopped-one/disks/root");
    expect(got.status).toBe(200);
    const sha = got.headers[DISK_SHA256_HEADER];
    expect(sha).toBe(crypto.createHash("sha256").update(got.raw).digest("hex"));
    expect(Number(got.headers["content-length"])).toBe(got.raw.length);
    const incoming = path.join(stateDir, "incoming");
    const kept = () => (fs.existsSync(incoming) ? fs.readdirSync(incoming, { recursive: true }).map(String) : []);

    const corrupt = Buffer.from(got.raw);
    corrupt[corrupt.length >> 1]! ^= 0x01;
    const bad = await request(port, "PUT", "/v1/vms/moved-one/disks/root", {
      body: corrupt,
      headers: { [DISK_SHA256_HEADER]: String(sha) },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("SHA-256");
    expect(kept()).toEqual([]);
    // Declared far beyond the free space: 507 before a byte is stored.
    const huge = await request(port, "PUT", "/v1/vms/moved-one/disks/root", {
      body: "x",
      headers: { [DISK_SHA256_HEADER]: String(sha), "content-length": String(60 * 1024 ** 4) },
      partial: true,
    });
    expect(huge.status).toBe(507);
    expect(kept()).toEqual([]);

    const ok = await request(port, "PUT", "/v1/vms/moved-one/disks/root", {
      body: got.raw,
      headers: { [DISK_SHA256_HEADER]: String(sha) },
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ id: "moved-one", disk: "root", sizeBytes: got.raw.length, sha256: sha });
    // The VM exists on this host: its root cannot be received again.
    const dup = await request(port, "PUT", "/v1/vms/stopped-one/disks/root", {
      body: got.raw,
      headers: { [DISK_SHA256_HEADER]: String(sha) },
    });
    expect(dup.status).toBe(409);
    // The staged disk becomes the VM's disk on PUT /v1/vms/:id.
    const created = await request(port, "PUT", "/v1/vms/moved-one", {
      body: json(spec({ name: "moved-one", generation: 2 })),
    });
    expect(created.status).toBe(201);
    expect(created.body.generation).toBe(2);
    expect(kept()).toEqual([]);
    const again = await request(port, "GET", "/v1/vms/moved-one/disks/root");
    expect(again.headers[DISK_SHA256_HEADER]).toBe(sha);
    // release on the source side (stopped VM): files gone, idempotent
    expect((await request(port, "POST", "/v1/vms/moved-one/migration/release")).status).toBe(200);
    expect(fs.existsSync(path.join(stateDir, "vms", "moved-one"))).toBe(false);
  });
});
