// Test support for the console tests (agent/src/console/console.int.test.ts, vnc.int.test.ts): the kernel-boot
// fixture, one real guest under TCG behind the agent's HTTP server and the controller's console
// proxy on 127.0.0.1, and small WebSocket helpers.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { HostFacts, VmSpecInput } from "../../../lib/schemas/agent-api";
import { NonceStore } from "../../../lib/console-ticket";
import { createConsoleProxy, type ConsoleProxyOptions } from "../../../server/console-proxy";
import { closeServer, createAgentServer, listen, TokenVerifier } from "../api";
import { UpgradeRefused, type WebSocket } from "../console";
import { which } from "../host";
import { type ApplyResult, VmManager } from "../vm";
import { listenOnLoopback, until } from "./support";

const here = path.dirname(fileURLToPath(import.meta.url));

export type KernelFixture = { dir: string; kernel: string; initrd: string; marker: string; cmdline: string };

/** The kernel-boot fixture of `arch` (POLYARCH_FIXTURES_DIR or .cache/fixtures, `<arch>/manifest.json`), or null. */
export function kernelFixture(arch: "x86_64" | "aarch64"): KernelFixture | null {
  const dir = path.resolve(process.env.POLYARCH_FIXTURES_DIR ?? path.join(here, "../../../.cache/fixtures"), arch);
  const file = path.join(dir, "manifest.json");
  if (!existsSync(file)) return null;
  return { dir, ...(JSON.parse(readFileSync(file, "utf8")) as Omit<KernelFixture, "dir">) };
}

/** Why a guest of `arch` cannot boot here ("" when it can). */
export function guestSkipReason(arch: "x86_64" | "aarch64", fixture: KernelFixture | null): string {
  return !which(`qemu-system-${arch}`)
    ? `qemu-system-${arch} not installed`
    : !which("qemu-img")
      ? "qemu-img not installed"
      : !fixture
        ? `no ${arch} boot fixture (npm run fixtures)`
        : "";
}

/** Collects everything a console socket receives, as text. */
export function collect(ws: WebSocket) {
  const state = { text: "", closed: null as number | null };
  ws.on("binary", (b) => (state.text += b.toString("utf8")));
  ws.on("text", (s) => (state.text += s));
  ws.on("close", (code) => (state.closed = code));
  return state;
}

/** The HTTP status a refused WebSocket upgrade answered with; throws when the upgrade was accepted. */
export async function refused(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UpgradeRefused) return e.status;
    throw e;
  }
  throw new Error("the upgrade was accepted");
}

/**
 * One kernel-boot guest (VM `id`) in a VmManager, served by the agent's HTTP server (host token
 * `token`) and by the controller's console proxy (tickets signed with `secret`). `stop()` cleans
 * up whatever `start()` got to, and kills any QEMU of ours that outlived the manager.
 */
export class GuestConsoleRig {
  dir = "";
  mgr!: VmManager;
  agent!: http.Server;
  agentUrl = "";
  proxyServer!: http.Server;
  proxy!: ReturnType<typeof createConsoleProxy>;
  /** ws://127.0.0.1:<port> of the proxy */
  proxyUrl = "";

  constructor(
    private readonly o: {
      arch: "x86_64" | "aarch64";
      id: string;
      fixture: KernelFixture;
      tmpPrefix: string;
      secret: string;
      token: string;
      /** e.g. the database ticket store and the authorisation re-check (lib/server/consoles/revoke.int.test.ts) */
      proxy?: Partial<ConsoleProxyOptions>;
    },
  ) {}

  get serialLog(): string {
    return path.join(this.dir, "vms", this.o.id, "serial.log");
  }

  async start(): Promise<void> {
    const { arch, fixture } = this.o;
    this.dir = mkdtempSync(path.join(os.tmpdir(), this.o.tmpPrefix));
    const mgr = new VmManager({
      stateDir: this.dir,
      hostArch: os.machine() === "aarch64" ? "aarch64" : "x86_64",
      kvm: false,
      qemuBinaries: { [arch]: which(`qemu-system-${arch}`)! },
      firmware: {},
      resolveImage: async () => ({
        kernel: path.join(fixture.dir, fixture.kernel),
        initrd: path.join(fixture.dir, fixture.initrd),
      }),
      stopTimeoutMs: 5_000,
    });
    this.mgr = mgr;
    await mgr.init();
    const tokens = new TokenVerifier();
    tokens.set(this.o.token);
    this.agent = createAgentServer({
      facts: () => ({}) as HostFacts,
      usage: async () => ({}) as never,
      vms: {
        list: () => mgr.list(),
        get: (i) => mgr.get(i),
        apply: (i, s) => mgr.apply(i, s),
        action: (i, a) => mgr.action(i, a),
        delete: (i) => mgr.delete(i),
        consolePaths: (i) => mgr.consolePaths(i),
      },
      auth: tokens,
    });
    this.agentUrl = `http://127.0.0.1:${(await listen(this.agent, "127.0.0.1", 0)).port}`;
    const proxy = createConsoleProxy({ getSecret: () => this.o.secret, nonces: new NonceStore(), ...this.o.proxy });
    this.proxy = proxy;
    this.proxyServer = http.createServer((_q, res) => res.writeHead(404).end());
    this.proxyServer.on("upgrade", (req, socket, head) => proxy.handleUpgrade(req, socket, head));
    this.proxyUrl = (await listenOnLoopback(this.proxyServer)).replace(/^http/, "ws");
  }

  /** Starts the guest (kernel boot from the fixture; `over` adds e.g. a display). */
  boot(over: Partial<VmSpecInput> & { name: string }): Promise<ApplyResult> {
    const { arch, fixture } = this.o;
    return this.mgr.apply(this.o.id, {
      arch,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      boot: { type: "kernel", imageId: "fx", cmdline: fixture.cmdline },
      powerState: "running",
      ...over,
    });
  }

  /** Waits for the fixture's boot marker in the guest's serial log. */
  async booted(): Promise<void> {
    await until(
      () => readFileSync(this.serialLog, "utf8").includes(this.o.fixture.marker),
      "boot marker in serial.log",
      120_000,
    );
  }

  async stop(sockets: WebSocket[]): Promise<void> {
    for (const ws of sockets) ws.terminate();
    this.proxy?.closeAll();
    if (this.proxyServer) {
      this.proxyServer.closeAllConnections();
      await new Promise((r) => this.proxyServer.close(r));
    }
    if (this.agent) await closeServer(this.agent, 1_000);
    await this.mgr?.action(this.o.id, "poweroff").catch(() => {});
    await this.mgr?.close();
    if (!this.dir) return;
    // Belt and braces: no QEMU of ours may outlive the test.
    for (const p of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      try {
        if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes(this.dir)) process.kill(Number(p), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
