// Serial console end to end on this machine: a real x86_64 kernel-boot guest (TCG), the agent's
// console WebSocket, and the controller's proxy (scripts/console-proxy.mjs) with real tickets.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { HostFacts } from "../../lib/schemas/agent-api";
import { createConsoleProxy } from "../../scripts/console-proxy.mjs";
import { hostTokenFor, NonceStore, signConsoleTicket } from "../../scripts/console-ticket.mjs";
import { TokenVerifier } from "./auth";
import { readTail } from "./console";
import { which } from "./facts";
import { closeServer, createAgentServer, listen } from "./server";
import { VmManager } from "./vm/manager";
import { connectWebSocket, UpgradeRefused, type WebSocket } from "./ws";

const here = path.dirname(fileURLToPath(import.meta.url));

const SECRET = "console-test-secret-0123456789abcdef";
const HOST_ID = "h-console";
const TOKEN = hostTokenFor(SECRET, HOST_ID, 0);

/** Collects everything a console socket receives, as text. */
function collect(ws: WebSocket) {
  const state = { text: "", closed: null as number | null };
  ws.on("binary", (b) => (state.text += b.toString("utf8")));
  ws.on("text", (s) => (state.text += s));
  ws.on("close", (code) => (state.closed = code));
  return state;
}

async function until(what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function refused(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UpgradeRefused) return e.status;
    throw e;
  }
  throw new Error("the upgrade was accepted");
}

for (const arch of ["x86_64", "aarch64"] as const) {
const fxDir = path.resolve(process.env.POLYARCH_FIXTURES_DIR ?? path.join(here, "../../.cache/fixtures"), arch);
const manifest = existsSync(path.join(fxDir, "manifest.json")) ? (JSON.parse(readFileSync(path.join(fxDir, "manifest.json"), "utf8")) as { kernel: string; initrd: string; marker: string; cmdline: string }) : null;
const qemu = which(`qemu-system-${arch}`);
const skip = !qemu ? `qemu-system-${arch} not installed` : !which("qemu-img") ? "qemu-img not installed" : !manifest ? `no ${arch} boot fixture (npm run fixtures)` : "";

describe.skipIf(Boolean(skip))(`serial console over WebSocket, ${arch} guest under TCG${skip ? ` — skipped: ${skip}` : ""}`, () => {
  let dir = "";
  let mgr: VmManager;
  let agent: http.Server;
  let proxyServer: http.Server;
  let proxy: ReturnType<typeof createConsoleProxy>;
  let agentUrl = "";
  let proxyUrl = "";
  const id = `con-${arch.replace("_", "-")}`;
  const sockets: WebSocket[] = [];
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const ws = await connectWebSocket(url, headers);
    sockets.push(ws);
    return ws;
  };
  const ticket = (over: Partial<{ vmId: string; write: boolean }> = {}, now?: number) =>
    signConsoleTicket(SECRET, { vmId: id, userId: "u-1", write: true, agentUrl, hostId: HOST_ID, gen: 0, ...over }, { now }).ticket;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pa-con-"));
    mgr = new VmManager({
      stateDir: dir,
      hostArch: os.machine() === "aarch64" ? "aarch64" : "x86_64",
      kvm: false,
      qemuBinaries: { [arch]: qemu! },
      firmware: {},
      resolveImage: async () => ({ kernel: path.join(fxDir, manifest!.kernel), initrd: path.join(fxDir, manifest!.initrd) }),
      stopTimeoutMs: 5_000,
    });
    await mgr.init();
    const tokens = new TokenVerifier();
    tokens.set(TOKEN);
    agent = createAgentServer({
      facts: () => ({}) as HostFacts,
      usage: async () => ({}) as never,
      vms: { list: () => mgr.list(), get: (i) => mgr.get(i), apply: (i, s) => mgr.apply(i, s), action: (i, a) => mgr.action(i, a), delete: (i) => mgr.delete(i), consolePaths: (i) => mgr.consolePaths(i) },
      auth: tokens,
    });
    agentUrl = `http://127.0.0.1:${(await listen(agent, "127.0.0.1", 0)).port}`;
    proxy = createConsoleProxy({ getSecret: () => SECRET, nonces: new NonceStore() });
    proxyServer = http.createServer((_q, res) => res.writeHead(404).end());
    proxyServer.on("upgrade", (req, socket, head) => proxy.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => proxyServer.listen(0, "127.0.0.1", r));
    proxyUrl = `ws://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;

    const res = await mgr.apply(id, { name: "con", arch, vcpus: 1, memoryMb: 256, diskGb: 1, boot: { type: "kernel", imageId: "fx", cmdline: manifest!.cmdline }, powerState: "running" });
    expect(res.status.powerState).toBe("running");
    await until("boot marker in serial.log", () => readFileSync(path.join(dir, "vms", id, "serial.log"), "utf8").includes(manifest!.marker), 120_000);
  });

  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    proxy?.closeAll();
    proxyServer?.closeAllConnections();
    await new Promise((r) => proxyServer?.close(r));
    if (agent) await closeServer(agent, 1_000);
    await mgr?.action(id, "poweroff").catch(() => {});
    await mgr?.close();
    // Belt and braces: no QEMU of ours may outlive the test.
    for (const p of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      try {
        if (readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir)) process.kill(Number(p), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("agent: refuses without the host token, for unknown VMs, and without an upgrade", async () => {
    expect(await refused(open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console`))).toBe(401);
    expect(await refused(open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, { authorization: "Bearer wrong" }))).toBe(401);
    expect(await refused(open(`${agentUrl.replace("http", "ws")}/v1/vms/nope/console`, { authorization: `Bearer ${TOKEN}` }))).toBe(404);
    expect(await refused(open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console?write=yes`, { authorization: `Bearer ${TOKEN}` }))).toBe(400);
    const plain = await fetch(`${agentUrl}/v1/vms/${id}/console`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(plain.status).toBe(426);
  });

  it("agent: scrollback shows the boot marker; typed commands run; a read-only viewer's input is dropped", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const rw = collect(await open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, auth));
    await until("scrollback", () => rw.text.includes(manifest!.marker));
    const roWs = await open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console?write=0`, auth);
    const ro = collect(roWs);
    await until("read-only scrollback", () => ro.text.includes(manifest!.marker));

    roWs.sendText("echo ro-$((5*5))\n");
    sockets[sockets.length - 2]!.sendText("echo hello-$((6*7))\n");
    await until("hello-42 on the writer", () => rw.text.includes("hello-42"));
    await until("hello-42 on the read-only viewer too (one serial connection, fanned out)", () => ro.text.includes("hello-42"));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(rw.text).not.toContain("ro-25");
    expect(rw.text).not.toContain("ro-$((5*5))");
  });

  it("proxy: a ticket opens the console once; stale, reused, forged and other-VM tickets are refused", async () => {
    const t = ticket();
    const url = (tk: string, vm = id) => `${proxyUrl}/api/v1/vms/${vm}/console?ticket=${encodeURIComponent(tk)}`;
    const c = collect(await open(url(t)));
    await until("scrollback through the proxy", () => c.text.includes(manifest!.marker));
    sockets.at(-1)!.sendText("echo via-proxy-$((40+2))\n");
    await until("output through the proxy", () => c.text.includes("via-proxy-42"));

    expect(await refused(open(url(t)))).toBe(401); // reused
    expect(await refused(open(url(ticket({}, Date.now() - 31_000))))).toBe(401); // stale
    expect(await refused(open(url(ticket({ vmId: "other-vm" }))))).toBe(403); // signed for another VM
    const forged = signConsoleTicket("not-the-controller-secret-0123456789", { vmId: id, userId: "u-1", write: true, agentUrl, hostId: HOST_ID, gen: 0 }).ticket;
    expect(await refused(open(url(forged)))).toBe(401);
    expect(await refused(open(`${proxyUrl}/api/v1/vms/${id}/console`))).toBe(401); // no ticket
  });

  it("proxy: a read-only ticket drops input", async () => {
    const c = collect(await open(`${proxyUrl}/api/v1/vms/${id}/console?ticket=${encodeURIComponent(ticket({ write: false }))}`));
    await until("scrollback", () => c.text.includes(manifest!.marker));
    sockets.at(-1)!.sendText("echo ro-proxy-$((3*3))\n");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(c.text).not.toContain("ro-proxy-9");
  });

  it("a stopped VM closes its viewers (1001) and a new viewer gets the scrollback, then 1013", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const c = collect(await open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, auth));
    await until("scrollback", () => c.text.includes(manifest!.marker));
    await mgr.action(id, "poweroff");
    await until("viewer closed", () => c.closed !== null);
    expect(c.closed).toBe(1001);
    let power = "";
    await until("VM shut off", () => {
      void mgr.get(id).then((st) => (power = st.powerState));
      return power === "shutoff";
    });
    const after = collect(await open(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, auth));
    await until("closed with try-again", () => after.closed !== null);
    expect(after.closed).toBe(1013);
    expect(after.text).toContain(manifest!.marker);
  });
});

}

describe("readTail", () => {
  it("returns the last bytes from a character boundary, or nothing for a missing file", async () => {
    const d = mkdtempSync(path.join(os.tmpdir(), "pa-tail-"));
    try {
      const f = path.join(d, "log");
      const { writeFileSync } = await import("node:fs");
      writeFileSync(f, "ab€cd"); // € is 3 bytes
      expect((await readTail(f, 3)).toString()).toBe("cd");
      expect((await readTail(f, 4)).toString()).toBe("cd"); // cut inside €: skip its tail bytes
      expect((await readTail(f, 5)).toString()).toBe("€cd");
      expect((await readTail(path.join(d, "none"))).length).toBe(0);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
