// Over 600 lines: one scenario; the outer test re-runs this file in a private netns, where 4 steps share 3 guests.
// VLAN isolation through the whole agent: real HTTP API (PUT/DELETE /v1/vms/:id), real QEMU
// (TCG), a real private userspace Open vSwitch. Three x86_64 guests from the kernel-boot fixture
// on one OVS bridge: A and B on VLAN 10, C on VLAN 20, all in 10.99.0.0/24. A pings B (reached)
// and C (not reached: 100% loss) from its serial console. Traffic never leaves the guests and
// our bridge; no host interface gets an address.
//
// Runs in a private network + mount namespace (unshare --net --mount, sysfs remounted so
// /sys/class/net shows the namespace's devices): every netdev-datapath ovs-vswitchd opens a kernel
// tap called "ovs-netdev", so a second userspace OVS in the host namespace (a local fleet, another
// agent test) would fail with EBUSY — and the namespace takes any leftover tap with it. The outer
// test re-runs this file with vitest inside the namespace (POLYARCH_VLAN_NETNS=1) and checks the
// result; the inner run does the real work in-process, like agent.int.test.ts.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningAgent, startAgent } from "../agent";
import { type AgentConfig, parseConfig } from "../config";
import { which } from "../host";
import { type OvsInstance, startOvsInstance, stopOvsInstance } from "../testing/ovs-instance";
import { alive, listenOnLoopback, serveStubImage, stopServer, until } from "../testing/support";
import { type Logger, run } from "../util";
import { deleteTap, netDeviceExists, tapName } from "./ovs";

const IN_NETNS = process.env.POLYARCH_VLAN_NETNS === "1";
const REPO = path.resolve(__dirname, "../../..");
const JOIN = "join-token-vlan-0123456789";
const TEST_TIMEOUT_MS = 600_000;
const BOOT_TIMEOUT_MS = 240_000; // three TCG guests booting at once on a shared 2-core machine (~12 s when idle)

// ---- fixtures ---------------------------------------------------------------------------------

interface Fixture {
  kernel: Buffer;
  initrd: Buffer;
  marker: string;
}

/** x86_64 kernel + initramfs from POLYARCH_FIXTURES_DIR or .cache/fixtures (manifest.json wins). */
function findFixture(): Fixture | null {
  const roots = [process.env.POLYARCH_FIXTURES_DIR, path.join(REPO, ".cache/fixtures")].filter((r): r is string =>
    Boolean(r),
  );
  for (const r of roots) {
    const dir = path.join(r, "x86_64");
    const mPath = path.join(dir, "manifest.json");
    if (!fs.existsSync(mPath)) continue;
    const m = JSON.parse(fs.readFileSync(mPath, "utf8")) as Record<string, unknown>;
    const k = path.resolve(dir, typeof m.kernel === "string" ? m.kernel : "vmlinuz");
    const i = path.resolve(dir, typeof m.initrd === "string" ? m.initrd : "initrd.img");
    if (!fs.existsSync(k) || !fs.existsSync(i)) continue;
    return {
      kernel: fs.readFileSync(k),
      initrd: fs.readFileSync(i),
      marker: typeof m.marker === "string" ? m.marker : "POLYARCH-BOOT-OK arch=x86_64",
    };
  }
  return null;
}

const isRoot = process.getuid?.() === 0;
const fx = findFixture();
const skipReason =
  !which("qemu-system-x86_64") || !which("qemu-img")
    ? "qemu-system-x86_64/qemu-img not installed"
    : !which("ovs-vsctl") || !which("ovs-vswitchd") || !which("ovsdb-server") || !which("ovsdb-tool")
      ? "openvswitch-switch not installed"
      : !fx
        ? "no x86_64 boot fixture (run scripts/fixtures/build.sh)"
        : !isRoot
          ? "needs root (taps, network namespace)"
          : !which("unshare") || !which("ip")
            ? "unshare/ip (util-linux, iproute2) not installed"
            : "";

// ---- helpers shared by both halves -----------------------------------------------------------

function procText(pid: number, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

/** QEMU processes whose command line mentions `root` (our state dir): pid + command line. */
function ourQemus(root: string): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    const pid = Number(p);
    if (!procText(pid, "comm").startsWith("qemu-system")) continue;
    const cmdline = procText(pid, "cmdline").split("\0").join(" ");
    if (cmdline.includes(root)) out.push({ pid, cmdline });
  }
  return out;
}

/** SIGKILLs our QEMUs: the pids in <root>/state/vms/<id>/qemu.pid, then any left by cmdline. */
async function killOurQemus(root: string): Promise<number[]> {
  const killed: number[] = [];
  const vmsDir = path.join(root, "state", "vms");
  const pids = new Set<number>();
  if (fs.existsSync(vmsDir)) {
    for (const id of fs.readdirSync(vmsDir)) {
      const pidFile = path.join(vmsDir, id, "qemu.pid");
      const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").trim() : NaN);
      if (Number.isInteger(pid) && pid > 1 && procText(pid, "cmdline").includes(pidFile)) pids.add(pid);
    }
  }
  for (const q of ourQemus(root)) pids.add(q.pid);
  for (const pid of pids) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
      killed.push(pid);
    } catch {
      /* gone */
    }
  }
  const end = Date.now() + 10_000;
  while (Date.now() < end && [...pids].some(alive)) await new Promise((r) => setTimeout(r, 50));
  return killed;
}

async function pgrepQemu(): Promise<string> {
  try {
    return (await run("pgrep", ["-a", "qemu-system"], { timeoutMs: 5_000 })).stdout;
  } catch {
    return ""; // exit 1: none at all
  }
}

// ================================================================================================
// Outer: re-run this file inside a private network namespace.

describe.skipIf(IN_NETNS || Boolean(skipReason))(
  `VLAN isolation between agent VMs (private netns)${skipReason ? ` — skipped: ${skipReason}` : ""}`,
  () => {
    let root = "";
    let child: ChildProcess | null = null;

    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null && child.pid) {
        // Our own process group (detached): unshare -> node vitest -> its workers.
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          /* gone */
        }
        const end = Date.now() + 15_000;
        while (Date.now() < end && child.exitCode === null && child.signalCode === null)
          await new Promise((r) => setTimeout(r, 100));
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            /* gone */
          }
        }
      }
      if (root) {
        // Normally the inner run cleaned up; this catches a killed/timed-out inner run. QEMU is
        // detached (own session), so it is not in the process group: kill it by pidfile / cmdline.
        await killOurQemus(root);
        await stopOvsInstance(path.join(root, "ovs")).catch(() => {});
        fs.rmSync(root, { recursive: true, force: true });
      }
    });

    it(
      "A and B (VLAN 10) ping each other's subnet, C (VLAN 20, same subnet) is unreachable; DELETE removes taps and ports",
      async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-vlan-"));
        const vitestBin = path.join(REPO, "node_modules", "vitest", "vitest.mjs");
        const env = Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !/^(VITEST|TINYPOOL)/.test(k)),
        ) as NodeJS.ProcessEnv;
        env.POLYARCH_VLAN_NETNS = "1";
        env.POLYARCH_VLAN_ROOT = root;
        const t0 = Date.now();
        child = spawn(
          "unshare",
          [
            "--net",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            // sysfs of this namespace (else /sys/class/net shows the host's devices); loopback up for
            // the agent API and the stub controller.
            'mount -t sysfs sysfs /sys && ip link set lo up && exec "$@"',
            "sh",
            process.execPath,
            vitestBin,
            "run",
            path.relative(REPO, fileURLToPath(import.meta.url)),
            "--reporter=default",
            "--no-color",
          ],
          { cwd: REPO, env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
        );
        let output = "";
        child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
        child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
        const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
          const timer = setTimeout(() => {
            try {
              process.kill(-child!.pid!, "SIGKILL");
            } catch {
              /* gone */
            }
          }, TEST_TIMEOUT_MS - 30_000);
          child!.on("error", reject);
          child!.on("exit", (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal });
          });
        });
        const secs = ((Date.now() - t0) / 1000).toFixed(1);
        console.log(
          `[vlan] inner run (private netns) exited ${exit.code ?? exit.signal} after ${secs} s\n${output.split("\n").slice(-80).join("\n")}`,
        );
        console.log(
          `[vlan] progress:\n${fs.existsSync(path.join(root, "progress.log")) ? fs.readFileSync(path.join(root, "progress.log"), "utf8") : "(none)"}`,
        );
        const resultFile = path.join(root, "result.json");
        const result = fs.existsSync(resultFile)
          ? (JSON.parse(fs.readFileSync(resultFile, "utf8")) as Record<string, unknown>)
          : null;
        expect(exit.code, `inner vitest run failed:\n${output.slice(-6000)}`).toBe(0);
        expect(result, "inner run did not reach the end (skipped?)").toMatchObject({ passed: true });

        // Nothing of ours is left: no QEMU mentioning our dir (checked across the whole machine), no OVS daemon.
        const left = ourQemus(root);
        expect(left, `QEMU left running:\n${await pgrepQemu()}`).toEqual([]);
        for (const d of ["ovs-vswitchd", "ovsdb-server"]) {
          const pidFile = path.join(root, "ovs", `${d}.pid`);
          const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").trim() : NaN);
          if (Number.isInteger(pid) && pid > 1)
            expect(alive(pid) && procText(pid, "comm").trim() === d, `${d} still running`).toBe(false);
        }
      },
      TEST_TIMEOUT_MS,
    );
  },
);

// ================================================================================================
// Inner: the real test, in-process, inside the namespace.

class StubController {
  server!: http.Server;
  url = "";
  token = "host-token-" + crypto.randomBytes(8).toString("hex");
  imageRequests: string[] = [];
  constructor(private readonly files: Map<string, Buffer>) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const url = req.url ?? "";
        if (url === "/api/agent/v1/register" && req.method === "POST") {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { joinToken?: string };
          if (body.joinToken !== JOIN) return void res.writeHead(401).end();
          return void res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ hostId: "h-vlan", hostToken: this.token, heartbeatIntervalMs: 1000 }));
        }
        if (req.headers.authorization !== `Bearer ${this.token}`) return void res.writeHead(401).end();
        if (url === "/api/agent/v1/heartbeat" && req.method === "POST") {
          return void res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ ok: true, heartbeatIntervalMs: 1000 }));
        }
        if (serveStubImage(req, res, url, this.files, this.imageRequests)) return;
        res.writeHead(404).end();
      });
    });
    this.url = await listenOnLoopback(this.server);
  }

  async stop(): Promise<void> {
    if (this.server) await stopServer(this.server);
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "latin1");
  } catch {
    return "";
  }
}

interface Guest {
  key: "A" | "B" | "C";
  id: string;
  ip: string;
  vlan: number;
  mac: string;
  tap: string;
  pid?: number;
  serialLog?: string;
  serialSock?: string;
  putMs?: number;
  bootS?: number;
  t0?: number;
}

describe.skipIf(!IN_NETNS || Boolean(skipReason))(
  `VLAN isolation (inside the namespace)${skipReason ? ` — skipped: ${skipReason}` : ""}`,
  () => {
    const suffix = crypto.randomBytes(3).toString("hex");
    const bridge = `pav${suffix}`;
    const ownRoot = !process.env.POLYARCH_VLAN_ROOT;
    let root = ""; // set in beforeAll: collecting a skipped suite must not create anything
    const stub = new StubController(
      new Map([
        ["img-x86-vlan/kernel", fx?.kernel ?? Buffer.alloc(0)],
        ["img-x86-vlan/initrd", fx?.initrd ?? Buffer.alloc(0)],
      ]),
    );
    const guests: Guest[] = (
      [
        ["A", "10.99.0.11", 10],
        ["B", "10.99.0.12", 10],
        ["C", "10.99.0.13", 20],
      ] as const
    ).map(([key, ip, vlan], i) => {
      const id = `vm-vlan-${key.toLowerCase()}-${suffix}`;
      return { key, id, ip, vlan, mac: `52:54:00:9a:0a:1${i + 1}`, tap: tapName(id, "nic0") };
    });
    const g = (k: Guest["key"]) => guests.find((x) => x.key === k)!;
    const timings: Record<string, number> = {};
    const logs: string[] = [];
    const log: Logger = (level, event, ctx) => {
      if (level !== "debug") logs.push(`${level} ${event} ${ctx ? JSON.stringify(ctx).slice(0, 300) : ""}`);
    };
    let ovs: OvsInstance | null = null;
    let agent: RunningAgent | null = null;
    let cfg: AgentConfig;
    let passed = 0;
    const tStart = Date.now();
    /** Timestamped progress in <root>/progress.log (the outer test prints it). */
    function progress(msg: string): void {
      const line = `[${((Date.now() - tStart) / 1000).toFixed(1)}s] ${msg}`;
      if (root) fs.appendFileSync(path.join(root, "progress.log"), line + "\n");
    }

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async function api(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
      const res = await fetch(`http://127.0.0.1:${agent!.port}${p}`, {
        method,
        headers: { authorization: `Bearer ${stub.token}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    }

    async function vsctl(...args: string[]): Promise<string> {
      return (
        await run("ovs-vsctl", [`--db=${ovs!.db}`, "--timeout=10", ...args], { env: ovs!.env, timeoutMs: 15_000 })
      ).stdout.trim();
    }

    /** Writes to the guest's serial console (QEMU chardev socket server; one client at a time). */
    function typeOn(guest: Guest, text: string): Promise<void> {
      return new Promise((resolve, reject) => {
        const s = net.createConnection(guest.serialSock!);
        // QEMU closes its end once it has read our EOF; never wait for that forever.
        const timer = setTimeout(() => {
          progress(`${guest.key}: serial socket not closed by QEMU within 5 s`);
          s.destroy();
          resolve();
        }, 5_000);
        s.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
        s.on("data", () => {}); // QEMU mirrors the console to the client: drain it (else no EOF/close is seen)
        s.on("connect", () => s.end(text));
        s.on("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }

    /**
     * Runs a shell command on the console; returns the console output from before the command to
     * its end marker. The marker is built with $((..)) so the echoed command line cannot match it.
     */
    async function consoleRun(guest: Guest, cmd: string, tag: string, ms: number): Promise<string> {
      if (!guest.serialSock || !guest.serialLog) throw new Error(`${guest.key} was not created (see the first test)`);
      const from = readText(guest.serialLog!).length;
      progress(`${guest.key}$ ${cmd}`);
      await typeOn(guest, `${cmd}; echo "END-${tag}-rc=$?-$((40+2))"\n`);
      const re = new RegExp(`END-${tag}-rc=(\\d+)-42`);
      await until(
        () => re.test(readText(guest.serialLog!).slice(from)),
        `console answer ${tag} on ${guest.key}`,
        ms,
        200,
      );
      const out = readText(guest.serialLog!).slice(from);
      progress(`${guest.key}: ${/\d+ packets transmitted[^\r\n]*/.exec(out)?.[0] ?? ""} ${re.exec(out)?.[0]}`);
      return out;
    }

    /** The shell reads the console: answers a probe (retyped until it does). */
    async function shellReady(guest: Guest, ms = 60_000): Promise<void> {
      const end = Date.now() + ms;
      let n = 0;
      for (;;) {
        n++;
        const from = readText(guest.serialLog!).length;
        await typeOn(guest, `echo "READY-${guest.key}${n}-$((6*7))"\n`);
        const ok = await until(
          () => readText(guest.serialLog!).slice(from).includes(`READY-${guest.key}${n}-42`),
          "probe",
          5_000,
          200,
        ).then(
          () => true,
          () => false,
        );
        if (ok) return;
        if (Date.now() > end) throw new Error(`${guest.key}: console shell does not answer`);
      }
    }

    function dumpLogs(): void {
      for (const x of guests) {
        if (!x.serialLog) continue;
        const dir = path.dirname(x.serialLog);
        console.log(
          `---- ${x.key} ${x.id} serial.log (tail)\n${readText(x.serialLog).slice(-2500)}\n---- qemu.log\n${readText(path.join(dir, "qemu.log")).slice(-1000)}`,
        );
      }
      if (ovs)
        console.log(`---- ovs-vswitchd.log (tail)\n${readText(path.join(ovs.dir, "ovs-vswitchd.log")).slice(-2500)}`);
      console.log(`---- agent log (tail)\n${logs.slice(-40).join("\n")}`);
    }

    beforeAll(async () => {
      root = process.env.POLYARCH_VLAN_ROOT ?? fs.mkdtempSync(path.join(os.tmpdir(), "pa-vlan-"));
      const t = Date.now();
      ovs = await startOvsInstance(path.join(root, "ovs"));
      timings.ovsStartMs = Date.now() - t;
      await stub.start();
      const c = parseConfig(
        [
          "--controller",
          stub.url,
          "--insecure-http", // the stub controller issues no certificate (TLS is lib/server/hosts/agent-tls.int.test.ts's)
          "--listen",
          "127.0.0.1:0",
          "--state-dir",
          path.join(root, "state"),
          "--bridge",
          bridge,
          "--ovs-db",
          ovs.db,
          "--ovs-datapath",
          "netdev",
          "--kvm",
          "off",
          "--machine-id",
          `vlan-${suffix}`,
          "--heartbeat-ms",
          "1000",
        ],
        { POLYARCH_JOIN_TOKEN: JOIN },
      );
      if (c === "help") throw new Error("unexpected --help");
      cfg = c;
      agent = await startAgent(cfg, log);
      // The API accepts the controller-issued host token once registration is done.
      await until(
        async () =>
          (await fetch(`http://127.0.0.1:${agent!.port}/v1/health`).then((r) => r.json())).registered === true,
        "registration",
        30_000,
        200,
      );
      progress(`agent up on 127.0.0.1:${agent.port}, OVS ${ovs.db}, bridge ${bridge}`);
    });

    afterAll(async () => {
      if (!root) return;
      const t = Date.now();
      await agent?.stop().catch(() => {});
      await killOurQemus(root);
      for (const x of guests) await deleteTap(x.tap).catch(() => {});
      await ovs?.stop().catch(() => {});
      await stub.stop();
      const left = ourQemus(root);
      timings.cleanupMs = Date.now() - t;
      progress(`cleanup done in ${timings.cleanupMs} ms; QEMU left: ${left.length}`);
      fs.writeFileSync(
        path.join(root, "result.json"),
        JSON.stringify(
          {
            passed: passed === 4 && left.length === 0,
            testsPassed: passed,
            qemuLeft: left,
            timings,
            guests: guests.map(({ key, vlan, ip, tap, putMs, bootS }) => ({ key, vlan, ip, tap, putMs, bootS })),
          },
          null,
          2,
        ),
      );
      console.log(
        `[vlan] timings ${JSON.stringify(timings)}; boot s: ${guests.map((x) => `${x.key}=${x.bootS ?? "-"}`).join(" ")}`,
      );
      if (ownRoot) fs.rmSync(root, { recursive: true, force: true });
      expect(left, `QEMU left running:\n${await pgrepQemu()}`).toEqual([]);
    });

    it(
      "PUT creates three x86_64 VMs whose taps carry their VLAN tag; all boot with eth0 configured",
      async () => {
        onTestFailed(dumpLogs);
        expect(agent!.facts.ovs).toMatchObject({ available: true, datapath: "netdev" });
        for (const x of guests) {
          const spec = {
            name: `vlan-${x.key.toLowerCase()}`,
            arch: "x86_64",
            vcpus: 1,
            memoryMb: 192,
            diskGb: 1,
            boot: {
              type: "kernel",
              imageId: "img-x86-vlan",
              cmdline: `console=ttyS0 panic=-1 polyarch.ip=${x.ip}/24 polyarch.hostname=vlan-${x.key.toLowerCase()}`,
            },
            nics: [{ id: "nic0", mac: x.mac, vlan: x.vlan, ip: x.ip, prefixLength: 24 }],
          };
          const t = Date.now();
          x.t0 = t;
          const r = await api("PUT", `/v1/vms/${x.id}`, spec);
          x.putMs = Date.now() - t;
          progress(`PUT ${x.key} -> ${r.status} in ${x.putMs} ms (pid ${r.body?.pid})`);
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          expect(r.body).toMatchObject({ id: x.id, arch: "x86_64", accel: "tcg" });
          x.pid = r.body.pid;
          x.serialLog = r.body.serialLog;
          x.serialSock = (await agent!.manager.consolePaths(x.id)).serialSocket;
          expect(x.pid && alive(x.pid), `QEMU of ${x.key} not running`).toBeTruthy();
        }
        // Each NIC's tap exists and is an access port with the NIC's VLAN on our bridge.
        expect((await vsctl("list-ports", bridge)).split("\n").sort()).toEqual(guests.map((x) => x.tap).sort());
        for (const x of guests) {
          expect(netDeviceExists(x.tap), `tap ${x.tap}`).toBe(true);
          expect(await vsctl("get", "port", x.tap, "tag")).toBe(String(x.vlan));
          expect(await vsctl("get", "interface", x.tap, "external_ids:attached-mac")).toBe(`"${x.mac}"`);
        }
        // The guests boot concurrently; each prints its marker and eth0's address + MAC.
        await Promise.all(
          guests.map(async (x) => {
            const want = [fx!.marker, `POLYARCH-NET eth0 addr=${x.ip}/24 mac=${x.mac}`];
            await until(
              () => {
                const text = readText(x.serialLog!);
                if (want.every((w) => text.includes(w))) return true;
                if (!alive(x.pid!))
                  throw new Error(
                    `QEMU of ${x.key} exited during boot: ${readText(path.join(path.dirname(x.serialLog!), "qemu.log")).slice(-500)}`,
                  );
                return false;
              },
              `${x.key} to boot with eth0 = ${x.ip}/24`,
              BOOT_TIMEOUT_MS,
              500,
            );
            x.bootS = Math.round((Date.now() - x.t0!) / 100) / 10;
            progress(`${x.key} booted, eth0 ${x.ip}/24, after ${x.bootS} s`);
          }),
        );
        for (const x of guests) await shellReady(x);
        progress("all console shells answer");
        timings.allBootedMs = Date.now() - guests[0]!.t0!;
        passed++;
      },
      BOOT_TIMEOUT_MS + 60_000,
    );

    it("A pings B on the same VLAN (10)", async () => {
      onTestFailed(dumpLogs);
      const t = Date.now();
      const out = await consoleRun(g("A"), `ping -c 3 -W 2 ${g("B").ip}`, "AB", 60_000);
      timings.pingAbMs = Date.now() - t;
      console.log(`[vlan] A -> B:\n${out.trim()}`);
      const received = Number(/(\d+) packets received/.exec(out)?.[1] ?? "0");
      expect(received, out).toBeGreaterThanOrEqual(1);
      expect(out).not.toMatch(/100% packet loss/);
      expect(out).toMatch(/END-AB-rc=0-42/);
      // and back: B reaches A
      const back = await consoleRun(g("B"), `ping -c 2 -W 2 ${g("A").ip}`, "BA", 60_000);
      expect(back, back).toMatch(/END-BA-rc=0-42/);
      passed++;
    }, 150_000);

    it("A cannot reach C (VLAN 20) although C is up in the same subnet", async () => {
      onTestFailed(dumpLogs);
      const t = Date.now();
      const out = await consoleRun(g("A"), `ping -c 3 -W 2 ${g("C").ip}`, "AC", 60_000);
      timings.pingAcMs = Date.now() - t;
      console.log(`[vlan] A -> C:\n${out.trim()}`);
      expect(out).toMatch(/\b0 packets received/);
      expect(out).toMatch(/100% packet loss/);
      expect(out).not.toMatch(/END-AC-rc=0-42/);
      // C itself is alive and configured (so the loss is the VLAN, not a dead guest) and cannot reach B either.
      const fromC = await consoleRun(g("C"), `ip -o addr show dev eth0; ping -c 2 -W 2 ${g("B").ip}`, "CB", 60_000);
      expect(fromC).toContain(`inet ${g("C").ip}/24`);
      expect(fromC).toMatch(/100% packet loss/);
      passed++;
    }, 150_000);

    it("DELETE stops each QEMU and removes its tap and OVS port", async () => {
      onTestFailed(dumpLogs);
      const t = Date.now();
      for (const x of guests) {
        const d = await api("DELETE", `/v1/vms/${x.id}`);
        expect(d).toEqual({ status: 200, body: { id: x.id, deleted: true } });
        expect(alive(x.pid!), `QEMU ${x.pid} of ${x.key} still alive`).toBe(false);
        expect(netDeviceExists(x.tap), `tap ${x.tap} still exists`).toBe(false);
        await expect(run("ip", ["link", "show", "dev", x.tap], { timeoutMs: 5_000 })).rejects.toThrow();
        expect((await vsctl("list-ports", bridge)).split("\n")).not.toContain(x.tap);
        await expect(vsctl("get", "port", x.tap, "tag")).rejects.toThrow(/no row/i);
        expect((await api("GET", `/v1/vms/${x.id}`)).status).toBe(404);
        progress(`DELETE ${x.key}: QEMU, tap ${x.tap} and its OVS port gone`);
      }
      timings.deleteAllMs = Date.now() - t;
      expect(await vsctl("list-ports", bridge)).toBe("");
      expect((await api("GET", "/v1/vms")).body).toEqual({ vms: [] });
      expect(ourQemus(root)).toEqual([]);
      passed++;
    }, 120_000);
  },
);
