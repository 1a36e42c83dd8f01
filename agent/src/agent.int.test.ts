// Whole agent, in-process, against a stub controller on 127.0.0.1, a private userspace OVS and
// real QEMU: register -> heartbeat -> PUT (image download, overlay, tap on OVS, QEMU) -> agent
// restart (the VM keeps running and is re-attached) -> DELETE. Uses B's kernel-boot fixtures
// from .cache/fixtures/aarch64/ when present; otherwise a zero-filled "kernel" that QEMU's
// aarch64 virt board loads as a raw image and runs (enough for power-state plumbing).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import {
  agentVmDeleteResponseSchema,
  agentVmListResponseSchema,
  heartbeatRequestSchema,
  registerRequestSchema,
  vmStatusSchema,
} from "../../lib/schemas/agent-api";
import { startAgent, type RunningAgent } from "./agent";
import { parseConfig, type AgentConfig } from "./config";
import { which } from "./host";
import { deleteTap, netDeviceExists, tapName } from "./network";
import { startOvsInstance, type OvsInstance } from "./testing/ovs-instance";
import { alive, listenOnLoopback, serveStubImage, stopServer, until } from "./testing/support";
import type { Logger } from "./util";

const JOIN = "join-token-e2e-0123456789";
/** Same lookup as testing/vm-rig.ts: POLYARCH_FIXTURES_DIR or .cache/fixtures/<arch>/, manifest.json wins. */
function fixtureFiles(): { kernel: Buffer; initrd?: Buffer; cmdline: string; marker: string | null } {
  const roots = [process.env.POLYARCH_FIXTURES_DIR, path.resolve(__dirname, "../../.cache/fixtures")].filter(
    (r): r is string => Boolean(r),
  );
  for (const r of roots) {
    const dir = path.join(r, "aarch64");
    if (!fs.existsSync(dir)) continue;
    const mPath = path.join(dir, "manifest.json");
    const m = fs.existsSync(mPath) ? (JSON.parse(fs.readFileSync(mPath, "utf8")) as Record<string, unknown>) : {};
    const pick = (explicit: unknown, names: string[]) =>
      typeof explicit === "string"
        ? path.resolve(dir, explicit)
        : names.map((n) => path.join(dir, n)).find((p) => fs.existsSync(p));
    const k = pick(m.kernel, ["vmlinuz", "kernel", "Image", "bzImage"]);
    const i = pick(m.initrd, ["initramfs.cpio.gz", "initrd.gz", "initrd.img", "initramfs.gz", "initrd"]);
    const markerFile = path.join(dir, "marker");
    const marker =
      typeof m.marker === "string"
        ? m.marker
        : fs.existsSync(markerFile)
          ? fs.readFileSync(markerFile, "utf8").trim()
          : null;
    if (k && fs.existsSync(k) && marker) {
      return {
        kernel: fs.readFileSync(k),
        initrd: i && fs.existsSync(i) ? fs.readFileSync(i) : undefined,
        cmdline: "quiet",
        marker,
      };
    }
  }
  // No fixture: a zero-filled raw "kernel" still gives a QEMU in state running.
  return { kernel: Buffer.alloc(64 * 1024), cmdline: "", marker: null };
}

class StubController {
  server!: http.Server;
  url = "";
  registers: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  heartbeats: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  imageRequests: string[] = [];
  invalid: string[] = [];
  token = "host-token-" + crypto.randomBytes(8).toString("hex");
  constructor(private readonly files: Map<string, Buffer>) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const url = req.url ?? "";
        if (url === "/api/agent/v1/register" && req.method === "POST") {
          const body = JSON.parse(Buffer.concat(chunks).toString());
          const p = registerRequestSchema.safeParse(body);
          if (!p.success || body.joinToken !== JOIN) return void res.writeHead(401).end();
          this.registers.push(body);
          return void res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ hostId: "h-1", hostToken: this.token, heartbeatIntervalMs: 200 }));
        }
        if (req.headers.authorization !== `Bearer ${this.token}`) return void res.writeHead(401).end();
        if (url === "/api/agent/v1/heartbeat" && req.method === "POST") {
          const body = JSON.parse(Buffer.concat(chunks).toString());
          const p = heartbeatRequestSchema.safeParse(body);
          if (!p.success) this.invalid.push(JSON.stringify(p.error.issues));
          this.heartbeats.push(body);
          return void res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ ok: true, heartbeatIntervalMs: 200 }));
        }
        if (serveStubImage(req, res, url, this.files, this.imageRequests)) return;
        res.writeHead(404).end();
      });
    });
    this.url = await listenOnLoopback(this.server);
  }

  stop(): Promise<void> {
    return stopServer(this.server);
  }
}

async function api(
  agent: RunningAgent,
  method: string,
  p: string,
  token: string | null,
  body?: unknown,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${agent.port}${p}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img"));
const haveOvs = Boolean(which("ovs-vsctl") && which("ovs-vswitchd") && which("ovsdb-server"));
const isRoot = process.getuid?.() === 0;
const skipReason = !haveQemu
  ? "qemu-system-aarch64/qemu-img not installed"
  : !haveOvs
    ? "openvswitch-switch not installed"
    : !isRoot
      ? "needs root (taps)"
      : "";

const fx = fixtureFiles();
describe.skipIf(Boolean(skipReason))(
  `agent end-to-end (stub controller, real OVS + QEMU, ${fx.marker ? "aarch64 boot fixture" : "no fixture: raw zero kernel"})` +
    (skipReason ? ` — skipped: ${skipReason}` : ""),
  () => {
    const stub = new StubController(
      new Map([["img-a64/kernel", fx.kernel], ...(fx.initrd ? ([["img-a64/initrd", fx.initrd]] as const) : [])]),
    );
    const suffix = crypto.randomBytes(3).toString("hex");
    const bridge = `bre${suffix}`;
    const vmId = `vm-e2e-${suffix}`;
    let root: string;
    let ovs: OvsInstance | null = null;
    let agent: RunningAgent | null = null;
    const pids = new Set<number>();
    const logs: Array<[string, string]> = [];
    const log: Logger = (level, event) => logs.push([level, event]);
    let cfg: AgentConfig;

    beforeAll(async () => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-e2e-"));
      ovs = await startOvsInstance(path.join(root, "ovs"));
      await stub.start();
      const c = parseConfig(
        // plain HTTP: this stub issues no certificates (the TLS channel is lib/server/hosts/agent-tls.int.test.ts's)
        [
          "--controller",
          stub.url,
          "--insecure-http",
          "--listen",
          "127.0.0.1:0",
          "--state-dir",
          path.join(root, "state"),
          "--bridge",
          bridge,
          "--ovs-db",
          ovs.db,
          "--machine-id",
          `e2e-${suffix}`,
          "--heartbeat-ms",
          "200",
        ],
        { POLYARCH_JOIN_TOKEN: JOIN },
      );
      if (c === "help") throw new Error("unexpected");
      cfg = c;
    });

    afterAll(async () => {
      await agent?.stop().catch(() => {});
      for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
      await deleteTap(tapName(vmId, "nic0")).catch(() => {});
      await ovs?.stop();
      await stub.stop();
      fs.rmSync(root, { recursive: true, force: true });
    });

    it("registers and heartbeats", async () => {
      agent = await startAgent(cfg, log);
      await until(() => stub.heartbeats.length >= 1, "first heartbeat");
      expect(stub.registers).toHaveLength(1);
      expect(stub.registers[0].agentUrl).toBe(`http://127.0.0.1:${agent.port}`);
      expect(stub.registers[0].facts.machineId).toBe(`e2e-${suffix}`);
      const h = await api(agent, "GET", "/v1/health", null);
      expect(h.body).toMatchObject({ ok: true, registered: true, hostId: "h-1" });
      expect((await api(agent, "GET", "/v1/host", "wrong")).status).toBe(401);
      expect((await api(agent, "GET", "/v1/host", stub.token)).status).toBe(200);
    });

    it("PUT creates and starts an emulated aarch64 VM with a tagged NIC; PUT again is a no-op", async () => {
      const spec = {
        name: "e2e-a64",
        arch: "arm64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        boot: {
          type: "kernel",
          imageId: "img-a64",
          kernelSha256: crypto.createHash("sha256").update(fx.kernel).digest("hex"),
          cmdline: fx.cmdline,
        },
        nics: [{ id: "nic0", mac: "52:54:00:aa:bb:01", vlan: 10 }],
      };
      const r = await api(agent!, "PUT", `/v1/vms/${vmId}`, stub.token, spec);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ id: vmId, arch: "aarch64", accel: "tcg", emulated: true });
      expect(vmStatusSchema.safeParse(r.body).error).toBeUndefined();
      if (r.body.pid) pids.add(r.body.pid);
      const running = await until(async () => {
        const g = await api(agent!, "GET", `/v1/vms/${vmId}`, stub.token);
        return g.body.powerState === "running" ? g.body : null;
      }, "running");
      pids.add(running.pid);
      expect(alive(running.pid)).toBe(true);
      expect(
        agentVmListResponseSchema.safeParse((await api(agent!, "GET", "/v1/vms", stub.token)).body).error,
      ).toBeUndefined();

      const again = await api(agent!, "PUT", `/v1/vms/${vmId}`, stub.token, spec);
      expect(again.status).toBe(200);
      expect(again.body.pid).toBe(running.pid);
      expect(stub.imageRequests.filter((x) => x === "img-a64/kernel")).toHaveLength(1);

      const tap = tapName(vmId, "nic0");
      expect(netDeviceExists(tap)).toBe(true);
      const { run } = await import("./util");
      expect((await run("ovs-vsctl", [`--db=${ovs!.db}`, "list-ports", bridge])).stdout.trim()).toBe(tap);
      expect((await run("ovs-vsctl", [`--db=${ovs!.db}`, "get", "port", tap, "tag"])).stdout.trim()).toBe("10");

      if (fx.marker) {
        // Real fixture: the guest boots through everything this agent set up, to its marker line.
        await until(
          () => fs.existsSync(running.serialLog) && fs.readFileSync(running.serialLog, "utf8").includes(fx.marker!),
          `serial marker "${fx.marker}"`,
          90_000,
        );
      }

      await until(
        () =>
          stub.heartbeats.some((h) =>
            h.vms.some((v: { id: string; powerState: string }) => v.id === vmId && v.powerState === "running"),
          ),
        "heartbeat with the VM",
      );
      expect(stub.invalid).toEqual([]);
    });

    it("agent restart leaves the VM running and re-attaches", async () => {
      const before = (await api(agent!, "GET", `/v1/vms/${vmId}`, stub.token)).body;
      await agent!.stop();
      agent = null;
      expect(alive(before.pid)).toBe(true);
      // Second run: identity.json is reused (no join token needed, no second registration).
      const c2 = { ...cfg, joinToken: undefined };
      agent = await startAgent(c2, log);
      const after = await until(async () => {
        const g = await api(agent!, "GET", `/v1/vms/${vmId}`, stub.token);
        return g.body?.powerState === "running" ? g.body : null;
      }, "re-attached VM");
      expect(after.pid).toBe(before.pid);
      expect(stub.registers).toHaveLength(1);
    });

    it("actions and DELETE remove QEMU, tap and port", async () => {
      const st = (await api(agent!, "GET", `/v1/vms/${vmId}`, stub.token)).body;
      const p = await api(agent!, "POST", `/v1/vms/${vmId}/actions`, stub.token, { action: "poweroff" });
      expect(p.status, JSON.stringify(p.body)).toBe(200);
      await until(() => !alive(st.pid), "QEMU gone after poweroff");
      const d = await api(agent!, "DELETE", `/v1/vms/${vmId}`, stub.token);
      expect(d).toEqual({ status: 200, body: { id: vmId, deleted: true } });
      expect(agentVmDeleteResponseSchema.safeParse(d.body).success).toBe(true);
      expect(netDeviceExists(tapName(vmId, "nic0"))).toBe(false);
      expect((await api(agent!, "GET", `/v1/vms/${vmId}`, stub.token)).status).toBe(404);
      expect((await api(agent!, "DELETE", `/v1/vms/${vmId}`, stub.token)).status).toBe(404);
      expect(fs.existsSync(path.join(cfg.stateDir, "vms", vmId))).toBe(false);
    });
  },
);

describe("bundle (scripts/build-agent.mjs)", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-bundle-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("builds one self-contained file that runs with plain node", async () => {
    const out = path.join(dir, "agent.mjs");
    const build = await runNode(
      [path.resolve(__dirname, "../../scripts/build-agent.mjs"), "--outfile", out],
      process.cwd(),
    );
    expect(build.code, build.stderr).toBe(0);
    // run from an empty dir: no node_modules reachable
    const help = await runNode([out, "--help"], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--controller URL/);
    const bad = await runNode([out, "--listen", "nope"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--listen must be HOST:PORT/);
    const noJoin = await runNode(
      [out, "--controller", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--state-dir", path.join(dir, "s0")],
      dir,
    );
    expect(noJoin.code).toBe(2);
    expect(noJoin.stderr).toMatch(/--join-token/);
  });

  it("the bundled agent serves, and SIGTERM stops it cleanly", async () => {
    const out = path.join(dir, "agent.mjs");
    const token = "standalone-token-0123456789";
    const child = spawn(
      process.execPath,
      [
        out,
        "--api-token",
        token,
        "--insecure-http",
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        path.join(dir, "state"),
        "--kvm",
        "off",
      ],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const lines: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
      let buf = "";
      child.stdout.on("data", (c: Buffer) => {
        buf += c.toString();
        for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
          lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });
      const listening = await until(() => lines.find((l) => l.event === "agent.listening"), "agent.listening");
      const port = Number(/:(\d+)$/.exec(listening.address)?.[1]);
      const health = await fetch(`http://127.0.0.1:${port}/v1/health`).then((r) => r.json());
      expect(health).toMatchObject({ ok: true, registered: false });
      expect((await fetch(`http://127.0.0.1:${port}/v1/vms`)).status).toBe(401);
      const vms = await fetch(`http://127.0.0.1:${port}/v1/vms`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((r) => r.json());
      expect(vms).toEqual({ vms: [] });
      const facts = lines.find((l) => l.event === "agent.facts");
      expect(facts).toMatchObject({ kvm: false, level: "info" });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(lines.map((l) => l.event)).toContain("agent.stopped");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

function runNode(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const t = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
