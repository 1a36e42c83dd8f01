import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { heartbeatRequestSchema, registerRequestSchema, type HostImageReport } from "../../../lib/schemas/agent-api";
import { LeaseKeeper, leaseFileOf, monotonicMs, type Lease } from "../fence";
import { ControllerClient, loadIdentity, saveIdentity } from "./controller-client";
import { SAMPLE_HOST_FACTS as facts } from "../../../lib/schemas/host-facts-fixture";

const JOIN = "join-token-0123456789abcdef";
const usage = { cpuPct: 1, memoryUsedMb: 100, diskUsedGb: 1, loadAvg: [0.1, 0.1, 0.1] };

/** Controller stand-in on 127.0.0.1: validates payloads with the shared schemas. */
class StubController {
  server!: http.Server;
  url = "";
  port = 0;
  registers: unknown[] = [];
  heartbeats: Array<{ auth?: string; body: Record<string, unknown> }> = [];
  tokens = new Set<string>();
  n = 0;
  heartbeatStatus = 200;
  /** merged into every heartbeat answer (fenceAfterMs, evict) */
  heartbeatExtra: Record<string, unknown> = {};
  invalid: string[] = [];

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const json = body ? JSON.parse(body) : {};
        res.setHeader("content-type", "application/json");
        if (req.url === "/api/agent/v1/register") {
          const p = registerRequestSchema.safeParse(json);
          if (!p.success) this.invalid.push(JSON.stringify(p.error.issues));
          this.registers.push(json);
          if (json.joinToken !== JOIN)
            return void res
              .writeHead(401)
              .end(JSON.stringify({ error: { code: "unauthorized", message: "bad join token" } }));
          const token = `host-token-${++this.n}`;
          this.tokens.add(token);
          return void res.end(JSON.stringify({ hostId: "host-1", hostToken: token, heartbeatIntervalMs: 50 }));
        }
        if (req.url === "/api/agent/v1/heartbeat") {
          const p = heartbeatRequestSchema.safeParse(json);
          if (!p.success) this.invalid.push(JSON.stringify(p.error.issues));
          this.heartbeats.push({ auth: req.headers.authorization, body: json });
          const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
          if (!this.tokens.has(token))
            return void res
              .writeHead(401)
              .end(JSON.stringify({ error: { code: "unauthorized", message: "unknown host token" } }));
          if (this.heartbeatStatus !== 200) return void res.writeHead(this.heartbeatStatus).end("{}");
          return void res.end(JSON.stringify({ ok: true, heartbeatIntervalMs: 50, ...this.heartbeatExtra }));
        }
        res.writeHead(404).end("{}");
      });
    });
    await new Promise<void>((r) => this.server.listen(port, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("ControllerClient", () => {
  let root: string;
  const stub = new StubController();
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-cc-"));
    await stub.start();
  });
  afterAll(async () => {
    await stub.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const client = (stateDir: string, extra: Partial<ConstructorParameters<typeof ControllerClient>[0]> = {}) => {
    const tokens: string[] = [];
    const c = new ControllerClient({
      controllerUrl: stub.url,
      stateDir,
      joinToken: JOIN,
      agentUrl: "http://127.0.0.1:7101",
      getFacts: () => facts,
      getUsage: async () => usage,
      listVms: async () => [],
      onToken: (t) => tokens.push(t),
      heartbeatMs: 50,
      maxBackoffMs: 100,
      ...extra,
    });
    return { c, tokens };
  };

  it("registers, persists identity 0600, heartbeats with the host token", async () => {
    const dir = path.join(root, "a");
    const { c, tokens } = client(dir);
    c.start();
    await until(() => stub.heartbeats.length >= 2);
    await c.stop();
    expect(stub.registers).toHaveLength(1);
    expect(stub.registers[0]).toMatchObject({
      joinToken: JOIN,
      agentUrl: "http://127.0.0.1:7101",
      facts: { machineId: "m-1", arch: "aarch64" },
    });
    expect(tokens).toEqual(["host-token-1"]);
    const file = path.join(dir, "identity.json");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(await loadIdentity(dir)).toMatchObject({
      hostId: "host-1",
      hostToken: "host-token-1",
      controllerUrl: stub.url,
      machineId: "m-1",
    });
    expect(stub.heartbeats[0]!.auth).toBe("Bearer host-token-1");
    expect(stub.heartbeats[0]!.body).toMatchObject({ usage, vms: [] });
    expect(stub.invalid).toEqual([]);
  });

  it("reuses identity.json on restart (no registration) and sends facts with the first heartbeat", async () => {
    stub.registers = [];
    stub.heartbeats = [];
    const { c, tokens } = client(path.join(root, "a"));
    c.start();
    await until(() => stub.heartbeats.length >= 2);
    await c.stop();
    expect(stub.registers).toHaveLength(0);
    expect(tokens).toEqual(["host-token-1"]);
    expect(stub.heartbeats[0]!.body.facts).toMatchObject({ machineId: "m-1" });
    expect(stub.heartbeats[0]!.body.agentUrl).toBe("http://127.0.0.1:7101");
    expect(stub.heartbeats[1]!.body.facts).toBeUndefined();
  });

  it("re-registers when the controller rejects the host token (401)", async () => {
    stub.registers = [];
    stub.heartbeats = [];
    const dir = path.join(root, "b");
    await saveIdentity(dir, {
      hostId: "old",
      hostToken: "revoked",
      controllerUrl: stub.url,
      machineId: "m-1",
      registeredAt: "x",
    });
    const { c, tokens } = client(dir);
    c.start();
    await until(() => stub.heartbeats.some((h) => h.auth !== "Bearer revoked"));
    await c.stop();
    expect(stub.registers).toHaveLength(1);
    expect(tokens[0]).toBe("revoked");
    expect(tokens[1]).toMatch(/^host-token-/);
    expect((await loadIdentity(dir))?.hostToken).toBe(tokens[1]);
  });

  it("without a join token a rejected host token is retried with backoff, not a crash", async () => {
    stub.registers = [];
    stub.heartbeats = [];
    const dir = path.join(root, "c");
    await saveIdentity(dir, {
      hostId: "old",
      hostToken: "revoked",
      controllerUrl: stub.url,
      machineId: "m-1",
      registeredAt: "x",
    });
    const logs: string[] = [];
    const { c } = client(dir, { joinToken: undefined, log: (_l, ev) => logs.push(ev) });
    c.start();
    await until(() => stub.heartbeats.length >= 2);
    await c.stop();
    expect(stub.registers).toHaveLength(0);
    expect(logs).toContain("agent.token_rejected");
  });

  it("ignores an identity issued by another controller", async () => {
    stub.registers = [];
    const dir = path.join(root, "d");
    await saveIdentity(dir, {
      hostId: "x",
      hostToken: "y",
      controllerUrl: "http://127.0.0.1:1",
      machineId: "m-1",
      registeredAt: "x",
    });
    const { c } = client(dir);
    c.start();
    await until(() => stub.registers.length === 1 && c.identity !== null);
    await c.stop();
    expect(c.identity?.controllerUrl).toBe(stub.url);
  });

  it("keeps retrying with backoff while the controller is down, then registers", async () => {
    // reserve a free loopback port, close it: nothing listens there yet
    const later = new StubController();
    await later.start();
    const port = later.port;
    await later.stop();
    const dir = path.join(root, "e");
    const logs: Array<[string, unknown]> = [];
    const c = new ControllerClient({
      controllerUrl: `http://127.0.0.1:${port}`,
      stateDir: dir,
      joinToken: JOIN,
      agentUrl: "http://127.0.0.1:7101",
      getFacts: () => facts,
      getUsage: async () => usage,
      listVms: async () => [],
      heartbeatMs: 20,
      maxBackoffMs: 80,
      log: (_l, ev, f) => logs.push([ev, f?.failures]),
    });
    c.start();
    await until(() => logs.filter(([e]) => e === "controller.register_failed").length >= 3);
    await later.start(port);
    try {
      await until(() => later.heartbeats.length >= 1);
    } finally {
      await c.stop();
      await later.stop();
    }
    expect(later.registers).toHaveLength(1);
    expect(logs.map(([e]) => e)).toContain("agent.registered");
  });

  it("heartbeat 500s back off and recover", async () => {
    stub.heartbeats = [];
    stub.heartbeatStatus = 500;
    const logs: string[] = [];
    const { c } = client(path.join(root, "a"), { log: (_l, ev) => logs.push(ev) });
    c.start();
    await until(() => stub.heartbeats.length >= 3);
    stub.heartbeatStatus = 200;
    await until(() => logs.includes("controller.reachable"));
    await c.stop();
    expect(logs.filter((e) => e === "controller.heartbeat_failed").length).toBeGreaterThanOrEqual(3);
  });

  it("a heartbeat that took longer than an interval is logged with where the time went", async () => {
    const logs: Array<Record<string, unknown>> = [];
    let slow = false;
    const { c } = client(path.join(root, "a"), {
      // A report that takes 150 ms to gather, three times the 50 ms interval (a starved event loop).
      listVms: async () => {
        if (slow) await new Promise((r) => setTimeout(r, 150));
        return [];
      },
      log: (_l, ev, f) => void (ev === "controller.heartbeat_slow" && logs.push(f ?? {})),
    });
    c.start();
    await until(() => c.lastHeartbeatAt !== null);
    slow = true;
    // Under emulation (the arm64 suite) an ordinary beat may take longer than 50 ms too: those are
    // logged as well, with their time in the answer; the one that gathered slowly must be among them.
    const gatheredSlowly = () => logs.find((l) => (l.gatherMs as number) >= 140);
    await until(() => gatheredSlowly() !== undefined);
    await c.stop();
    expect(gatheredSlowly()).toEqual({
      gatherMs: expect.any(Number),
      answerMs: expect.any(Number),
      sinceLastMs: expect.any(Number),
    });
  });

  it("stop() returns promptly even mid-sleep", async () => {
    const { c } = client(path.join(root, "a"), { heartbeatMs: 60_000, fixedHeartbeat: true });
    c.start();
    await until(() => c.lastHeartbeatAt !== null);
    const t = Date.now();
    await c.stop();
    expect(Date.now() - t).toBeLessThan(500);
  });

  it("fenceAfterMs renews the lease from the time the heartbeat was sent; an answer without it disarms (ADR 036)", async () => {
    const dir = path.join(root, "lease");
    const { c } = client(dir, { lease: new LeaseKeeper(dir), fixedHeartbeat: true, heartbeatMs: 60_000 });
    await c.register();
    stub.heartbeatExtra = { fenceAfterMs: 4000 };
    try {
      const before = monotonicMs();
      await c.heartbeat();
      const after = monotonicMs();
      const lease = JSON.parse(fs.readFileSync(leaseFileOf(dir), "utf8")) as Lease;
      expect(lease.fenceAfterMs).toBe(4000);
      // counted from the send, which lies between before and after
      expect(lease.deadlineMonoMs).toBeGreaterThanOrEqual(before + 4000);
      expect(lease.deadlineMonoMs).toBeLessThanOrEqual(after + 4000);
      await c.heartbeat();
      const renewed = JSON.parse(fs.readFileSync(leaseFileOf(dir), "utf8")) as Lease;
      expect(renewed.deadlineMonoMs).toBeGreaterThan(lease.deadlineMonoMs);

      stub.heartbeatExtra = {};
      await c.heartbeat();
      expect(fs.existsSync(leaseFileOf(dir))).toBe(false);
      // a refused heartbeat renews nothing
      stub.heartbeatExtra = { fenceAfterMs: 4000 };
      stub.heartbeatStatus = 500;
      await expect(c.heartbeat()).rejects.toThrow(/500/);
      expect(fs.existsSync(leaseFileOf(dir))).toBe(false);
    } finally {
      stub.heartbeatStatus = 200;
      stub.heartbeatExtra = {};
    }
  });

  it("evict: each entry goes to the evict hook, one at a time per VM, without holding up the heartbeat", async () => {
    const dir = path.join(root, "evict");
    const calls: Array<[string, number]> = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { c } = client(dir, {
      fixedHeartbeat: true,
      heartbeatMs: 60_000,
      evict: async (id, generation) => {
        calls.push([id, generation]);
        await gate;
      },
    });
    await c.register();
    stub.heartbeatExtra = {
      evict: [
        { id: "vm-a", generation: 3 },
        { id: "vm-b", generation: 2 },
      ],
    };
    try {
      await c.heartbeat(); // returns while both evictions still wait
      await c.heartbeat(); // vm-a and vm-b are in progress: not started twice
      expect(calls).toEqual([
        ["vm-a", 3],
        ["vm-b", 2],
      ]);
      release();
      await c.evictionsSettled();
      await c.heartbeat(); // finished: the controller may ask again (it does until the VM is gone)
      await c.evictionsSettled();
      expect(calls).toHaveLength(4);
    } finally {
      stub.heartbeatExtra = {};
    }
  });

  it("diff-only heartbeats: images when changed, everything again after a failure, over one kept-alive connection", async () => {
    stub.heartbeats = [];
    let connections = 0;
    const onConnection = () => connections++;
    stub.server.on("connection", onConnection);
    let images: HostImageReport[] = [{ imageId: "img-1", state: "ready", sizeBytes: 10, inUse: false }];
    const { c } = client(path.join(root, "a"), { listImages: async () => images });
    try {
      c.start();
      await until(() => stub.heartbeats.length >= 3);
      const [first, second, third] = stub.heartbeats.map((h) => h.body);
      expect(first).toMatchObject({ images, facts: { machineId: "m-1" } });
      expect([second!.images, second!.facts, third!.images, third!.facts]).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);

      images = [{ ...images[0]!, inUse: true }];
      await until(() => stub.heartbeats.some((h) => JSON.stringify(h.body.images) === JSON.stringify(images)));
      const sentAt = stub.heartbeats.findIndex((h) => h.body.images !== undefined && h !== stub.heartbeats[0]);
      await until(() => stub.heartbeats.length >= sentAt + 3);
      expect(stub.heartbeats.slice(sentAt + 1).map((h) => h.body.images)).toEqual(
        stub.heartbeats.slice(sentAt + 1).map(() => undefined),
      );

      stub.heartbeatStatus = 500;
      const failedFrom = stub.heartbeats.length;
      await until(() => stub.heartbeats.length >= failedFrom + 1);
      stub.heartbeatStatus = 200;
      const lastFailed = stub.heartbeats.length - 1;
      await until(() => stub.heartbeats.length >= lastFailed + 3);
      // Every heartbeat listed so far was answered 500; the first one after them carries everything.
      const after = stub.heartbeats[lastFailed + 1]!.body;
      expect(after).toMatchObject({ images, facts: { machineId: "m-1" }, agentUrl: "http://127.0.0.1:7101" });
      expect(stub.heartbeats[lastFailed + 2]!.body.images).toBeUndefined();
      expect(connections).toBe(1);
    } finally {
      stub.heartbeatStatus = 200;
      stub.server.off("connection", onConnection);
      await c.stop();
    }
  });
});
