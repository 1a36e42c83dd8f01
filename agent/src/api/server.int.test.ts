// Agent API server with a REAL VmManager in a temp state dir. Every rejection below must leave
// the state dir as it was: no VM directory, no image download.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import {
  agentHealthResponseSchema,
  agentHostResponseSchema,
  agentVmListResponseSchema,
  type HostFacts,
  type VmSpecInput,
  type VmStatus,
} from "../../../lib/schemas/agent-api";
import { VmManager } from "../vm";
import { TokenVerifier } from "./auth";
import { closeServer, createAgentServer, listen, type VmBackend } from "./server";

const TOKEN = "agent-test-token-0123456789";

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: http.IncomingHttpHeaders;
}

/** Raw node:http client: sends the path verbatim (fetch would normalise `..` and `%2e`). */
function request(
  port: number,
  method: string,
  rawPath: string,
  opts: { token?: string | null; body?: string | Buffer; headers?: Record<string, string>; chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? TOKEN : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) {
      headers["content-type"] = "application/json";
      if (!opts.chunked) headers["content-length"] = String(Buffer.byteLength(opts.body));
    }
    const req = http.request({ host: "127.0.0.1", port, method, path: rawPath, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          /* keep text */
        }
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.on("error", reject);
    if (opts.body !== undefined) {
      if (opts.chunked) {
        // stream in 64 KiB pieces without Content-Length
        const buf = Buffer.from(opts.body);
        for (let i = 0; i < buf.length; i += 65536) req.write(buf.subarray(i, i + 65536));
      } else req.write(opts.body);
    }
    req.end();
  });
}

function baseFacts(over: Partial<HostFacts> = {}): HostFacts {
  return {
    hostname: "test",
    machineId: "m-test",
    arch: "x86_64",
    cpuCount: 2,
    cpuModel: "test cpu",
    memoryMb: 4096,
    diskGb: 100,
    kvm: false,
    qemu: {
      version: "7.2.22",
      binaries: { x86_64: "/usr/bin/qemu-system-x86_64", aarch64: "/usr/bin/qemu-system-aarch64" },
      firmware: {},
    },
    ovs: { available: false, version: null, datapath: null },
    nativeArches: [],
    emulatedArches: ["x86_64", "aarch64"],
    maxVcpusNative: null,
    maxVcpusEmulated: 2,
    agentVersion: "0.1.0",
    ...over,
  };
}

const spec = (over: Partial<VmSpecInput> = {}): VmSpecInput => ({
  name: "vm-one",
  arch: "x86_64",
  vcpus: 1,
  memoryMb: 128,
  diskGb: 1,
  boot: { type: "kernel", imageId: "img-k", cmdline: "" },
  ...over,
});

function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

describe("agent API server (real VmManager)", () => {
  let root: string;
  let stateDir: string;
  let manager: VmManager;
  let server: http.Server;
  let port: number;
  let facts = baseFacts();
  const resolveCalls: unknown[] = [];

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-srv-"));
    stateDir = path.join(root, "state");
    manager = new VmManager({
      stateDir,
      hostArch: "x86_64",
      kvm: false,
      qemuBinaries: facts.qemu.binaries,
      firmware: {},
      // No controller in this test: any spec that gets this far fails cleanly as "unavailable".
      resolveImage: async (boot) => {
        resolveCalls.push(boot);
        throw new Error("no image source in this test");
      },
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
  });

  afterAll(async () => {
    await closeServer(server);
    await manager.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("health needs no token", async () => {
    const r = await request(port, "GET", "/v1/health", { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, arch: "x86_64" });
    expect(agentHealthResponseSchema.safeParse(r.body).success).toBe(true);
  });

  it.each([
    ["no token", null, undefined],
    ["wrong token", "nope", undefined],
    ["token with a different length", TOKEN + "x", undefined],
    ["not Bearer", null, { authorization: `Basic ${TOKEN}` }],
  ])("401 with %s", async (_n, token, headers) => {
    for (const [m, p] of [
      ["GET", "/v1/host"],
      ["GET", "/v1/vms"],
      ["GET", "/v1/vms/a"],
      ["PUT", "/v1/vms/a"],
      ["DELETE", "/v1/vms/a"],
      ["POST", "/v1/vms/a/actions"],
    ] as const) {
      const r = await request(port, m, p, { token, headers, body: m === "PUT" || m === "POST" ? "{}" : undefined });
      expect(r.status, `${m} ${p}`).toBe(401);
      expect(r.body.error.code).toBe("unauthorized");
    }
  });

  it("GET /v1/host returns facts and usage; /v1/vms a list", async () => {
    const r = await request(port, "GET", "/v1/host");
    expect(r.status).toBe(200);
    expect(r.body.facts.machineId).toBe("m-test");
    expect(r.body.usage).toHaveProperty("cpuPct");
    expect(agentHostResponseSchema.safeParse(r.body).success).toBe(true);
    const l = await request(port, "GET", "/v1/vms");
    expect(l).toMatchObject({ status: 200, body: { vms: [] } });
    expect(agentVmListResponseSchema.safeParse(l.body).success).toBe(true);
  });

  it.each([
    "/v1/vms/..",
    "/v1/vms/%2e%2e",
    "/v1/vms/%2E%2E",
    "/v1/vms/a%2Fb",
    "/v1/vms/a%2fb",
    "/v1/vms/a/b",
    "/v1/vms/..%2F..%2Fetc",
    "/v1/vms/../../etc",
    "/v1/vms/-x",
    "/v1/vms/%00",
    "/v1/vms/%zz",
    `/v1/vms/${"a".repeat(65)}`,
  ])("400 for the id in %s", async (p) => {
    for (const m of ["GET", "PUT", "DELETE"]) {
      const r = await request(port, m, p, { body: m === "PUT" ? JSON.stringify(spec()) : undefined });
      expect(r.status, `${m} ${p}`).toBe(400);
      expect(r.body.error.code).toBe("invalid");
    }
    const a = await request(port, "POST", `${p}/actions`, { body: JSON.stringify({ action: "start" }) });
    expect(a.status).toBe(400);
  });

  it("400 for malformed, empty and schema-invalid JSON", async () => {
    expect((await request(port, "PUT", "/v1/vms/vm1", { body: "{not json" })).status).toBe(400);
    expect((await request(port, "PUT", "/v1/vms/vm1", { body: "" })).status).toBe(400);
    const bad = await request(port, "PUT", "/v1/vms/vm1", { body: JSON.stringify({ ...spec(), vcpus: 0, name: "" }) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/vcpus|name/);
    const badArch = await request(port, "PUT", "/v1/vms/vm1", { body: JSON.stringify({ ...spec(), arch: "sparc" }) });
    expect(badArch.status).toBe(400);
    expect(badArch.body.error.message).toMatch(/x86_64.*aarch64/);
    const act = await request(port, "POST", "/v1/vms/vm1/actions", { body: JSON.stringify({ action: "explode" }) });
    expect(act.status).toBe(400);
  });

  it("413 for a body over 1 MiB (declared or streamed)", async () => {
    const big = JSON.stringify({
      ...spec(),
      cloudInit: { hostname: "x", sshKeys: [], userData: "x".repeat(1024 * 1024) },
    });
    const r = await request(port, "PUT", "/v1/vms/vm1", { body: big });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("too_large");
    const s = await request(port, "PUT", "/v1/vms/vm1", { body: big, chunked: true });
    expect(s.status).toBe(413);
  });

  it("409 for an arch this host cannot run, naming what it can", async () => {
    facts = baseFacts({
      nativeArches: ["x86_64"],
      emulatedArches: [],
      kvm: true,
      maxVcpusNative: 2,
      maxVcpusEmulated: null,
    });
    try {
      const r = await request(port, "PUT", "/v1/vms/vm1", { body: JSON.stringify(spec({ arch: "arm64" })) });
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe("conflict");
      expect(r.body.error.message).toMatch(/cannot run aarch64.*can run: x86_64 \(native, KVM\)/);
    } finally {
      facts = baseFacts();
    }
    // emulation possible but not allowed by the spec
    const r2 = await request(port, "PUT", "/v1/vms/vm1", {
      body: JSON.stringify(spec({ arch: "aarch64", allowEmulation: false })),
    });
    expect(r2.status).toBe(409);
    expect(r2.body.error.message).toMatch(/allowEmulation/);
  });

  it("422 for vCPUs, memory or disk beyond the host", async () => {
    const v = await request(port, "PUT", "/v1/vms/vm1", { body: JSON.stringify(spec({ vcpus: 3 })) });
    expect(v.status).toBe(422);
    expect(v.body.error.message).toMatch(/3 vCPUs.*at most 2/);
    const m = await request(port, "PUT", "/v1/vms/vm1", { body: JSON.stringify(spec({ memoryMb: 8192 })) });
    expect(m.status).toBe(422);
    expect(m.body.error.message).toMatch(/8192 MiB/);
    const d = await request(port, "PUT", "/v1/vms/vm1", { body: JSON.stringify(spec({ diskGb: 1000 })) });
    expect(d.status).toBe(422);
  });

  it("extra path-like fields are stripped: they never reach the manager or the disk", async () => {
    resolveCalls.length = 0;
    const evil = {
      ...spec(),
      disk: "/etc/passwd",
      diskPath: "../../../etc/shadow",
      stateDir: "/",
      boot: { type: "kernel", imageId: "img-k", cmdline: "", path: "/etc/shadow", kernel: "/boot/vmlinuz" },
      nics: [],
    };
    const r = await request(port, "PUT", "/v1/vms/vm-evil", { body: JSON.stringify(evil) });
    // the stub image source fails: the manager reports it and cleans up
    expect(r.status).toBe(503);
    expect(resolveCalls).toEqual([{ type: "kernel", imageId: "img-k", cmdline: "" }]);
  });

  it("404 for unknown VMs and routes, 405 for wrong methods", async () => {
    expect((await request(port, "GET", "/v1/vms/nope")).status).toBe(404);
    expect((await request(port, "DELETE", "/v1/vms/nope")).status).toBe(404);
    expect(
      (await request(port, "POST", "/v1/vms/nope/actions", { body: JSON.stringify({ action: "start" }) })).status,
    ).toBe(404);
    expect((await request(port, "GET", "/v2/x")).status).toBe(404);
    const m = await request(port, "POST", "/v1/vms");
    expect(m.status).toBe(405);
    expect(m.headers.allow).toBe("GET");
  });

  it("nothing was created on disk by any rejected request", () => {
    expect(listTree(path.join(stateDir, "vms"))).toEqual([]);
    expect(fs.existsSync(path.join(stateDir, "images"))).toBe(false);
    expect(fs.existsSync("/etc/shadow.part")).toBe(false);
  });
});

describe("agent API server error mapping", () => {
  it("unknown errors become a generic 500; AgentError-like codes map to statuses", async () => {
    let toThrow: unknown = new Error("secret detail /var/lib/x");
    const backend: VmBackend = {
      list: async () => {
        throw toThrow;
      },
      get: async () => {
        throw toThrow;
      },
      apply: async () => {
        throw toThrow;
      },
      action: async () => {
        throw toThrow;
      },
      delete: async () => {
        throw toThrow;
      },
    };
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    const logs: unknown[] = [];
    const server = createAgentServer({
      facts: () => baseFacts(),
      usage: async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }),
      vms: backend,
      auth,
      log: (...a) => logs.push(a),
    });
    const { port } = await listen(server, "127.0.0.1", 0);
    try {
      const r = await request(port, "GET", "/v1/vms");
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ error: { code: "internal", message: "internal agent error" } });
      expect(JSON.stringify(logs)).toContain("secret detail");
      for (const [code, status] of [
        ["invalid", 422],
        ["not_found", 404],
        ["conflict", 409],
        ["unavailable", 503],
      ] as const) {
        toThrow = Object.assign(new Error(`boom ${code}`), { code });
        const e = await request(port, "GET", "/v1/vms/x");
        expect(e.status).toBe(status);
        expect(e.body).toEqual({ error: { code, message: `boom ${code}` } });
      }
      // Node system errors (ENOENT…) are not AgentError codes: generic 500
      toThrow = Object.assign(new Error("ENOENT: /secret"), { code: "ENOENT" });
      expect((await request(port, "GET", "/v1/vms/x")).body.error.message).toBe("internal agent error");
    } finally {
      await closeServer(server);
    }
  });
});

describe("PUT /v1/vms/:id streams create steps on request", () => {
  const spec: VmSpecInput = {
    name: "s",
    arch: "x86_64",
    vcpus: 1,
    memoryMb: 128,
    diskGb: 1,
    nics: [],
    boot: { type: "kernel", imageId: "img", cmdline: "" },
  };
  const status: VmStatus = {
    id: "vm-1",
    name: "s",
    arch: "x86_64",
    powerState: "running",
    pid: 7,
    accel: "tcg",
    emulated: false,
    vcpus: 1,
    memoryMb: 128,
  };

  async function withBackend(apply: VmBackend["apply"], fn: (port: number) => Promise<void>) {
    const fail = async () => {
      throw new Error("unused");
    };
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    const server = createAgentServer({
      facts: () => baseFacts(),
      usage: async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }),
      vms: { list: fail, get: fail, action: fail, delete: fail, apply },
      auth,
      log: () => {},
    });
    const { port } = await listen(server, "127.0.0.1", 0);
    try {
      await fn(port);
    } finally {
      await closeServer(server);
    }
  }

  async function putStream(
    port: number,
  ): Promise<{ status: number; type: string; lines: Array<Record<string, unknown>> }> {
    const res = await fetch(`http://127.0.0.1:${port}/v1/vms/vm-1`, {
      method: "PUT",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", accept: "application/x-ndjson" },
      body: JSON.stringify(spec),
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get("content-type") ?? "",
      lines: text
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  }

  it("one line per step as it happens, then the result with the status code it would have had", async () => {
    await withBackend(
      async (_id, _spec, onStep) => {
        onStep?.({ type: "step", name: "image ready", status: "running", at: new Date().toISOString() });
        onStep?.({ type: "step", name: "image ready", status: "succeeded", at: new Date().toISOString() });
        return { created: true, status: { ...status } };
      },
      async (port) => {
        const r = await putStream(port);
        expect(r.status).toBe(200);
        expect(r.type).toMatch(/^application\/x-ndjson/);
        expect(r.lines.map((l) => `${l.type}:${l.name ?? l.status}`)).toEqual([
          "step:image ready",
          "step:image ready",
          "result:201",
        ]);
        expect((r.lines[2]!.body as { pid: number }).pid).toBe(7);
      },
    );
  });

  it("a failure after the first step ends the stream with an error line; before it, the plain HTTP error", async () => {
    await withBackend(
      async (_id, _spec, onStep) => {
        onStep?.({
          type: "step",
          name: "disk",
          status: "failed",
          message: "qemu-img: no space",
          at: new Date().toISOString(),
        });
        throw Object.assign(new Error("could not create VM: qemu-img: no space"), { code: "unavailable" });
      },
      async (port) => {
        const r = await putStream(port);
        expect(r.lines.at(-1)).toEqual({
          type: "error",
          status: 503,
          body: { error: { code: "unavailable", message: "could not create VM: qemu-img: no space" } },
        });
        expect(r.lines[0]).toMatchObject({ type: "step", name: "disk", status: "failed" });
      },
    );
    await withBackend(
      async () => {
        throw Object.assign(new Error("this host has no such image"), { code: "conflict" });
      },
      async (port) => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/vms/vm-1`, {
          method: "PUT",
          headers: {
            authorization: `Bearer ${TOKEN}`,
            "content-type": "application/json",
            accept: "application/x-ndjson",
          },
          body: JSON.stringify(spec),
        });
        expect(res.status).toBe(409);
        expect(await res.json()).toEqual({ error: { code: "conflict", message: "this host has no such image" } });
      },
    );
  });
});
