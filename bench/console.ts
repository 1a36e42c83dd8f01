// Console latency (register in bench/run.ts as `console: benchConsole`; BENCH=console).
//
// Keystroke → echo round trip on a real running guest's serial console: one character is sent,
// the clock stops when the guest's tty echoes it back. Three paths, measured one after the other
// (QEMU's serial socket serves one client at a time):
//   1. direct: a plain connection to the VM's serial unix socket (what QEMU itself costs)
//   2. agent WebSocket: the agent's /v1/vms/:id/console with the host token (agent hub + RFC 6455)
//   3. controller proxy: /api/v1/vms/:id/console?ticket=… through server/console-proxy.ts with a
//      real signed ticket (spent in memory here; the database spend happens once per connection,
//      not per keystroke) → agent WebSocket → serial socket — what a browser gets.
// x86_64 kernel-boot fixture (.cache/fixtures), 1 vCPU, 256 MiB, TCG (BENCH_CONSOLE_KVM=1: KVM).
// Everything on 127.0.0.1 under a temp dir; the QEMU started here is killed in `finally`.
// Knob: BENCH_CONSOLE_KEYS (200) keystrokes per path.
import fs from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { HostFacts } from "../lib/schemas/agent-api";
import { createConsoleProxy } from "../server/console-proxy";
import { NonceStore, signConsoleTicket } from "../lib/console-ticket";
import { deriveHostToken } from "../lib/host-token";
import { closeServer, createAgentServer, listen, TokenVerifier } from "../agent/src/api";
import { which } from "../agent/src/host";
import { VmManager } from "../agent/src/vm";
import { connectWebSocket, type WebSocket } from "../agent/src/console";
import { percentile, printTable } from "./table";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const KEYS = Math.max(10, Number(process.env.BENCH_CONSOLE_KEYS ?? 200));
const SECRET = "bench-console-secret-0123456789abcdef";
const HOST_ID = "h-bench";
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A byte pipe to the guest's tty: send bytes, wait for a byte pattern in what comes back. */
interface Pipe {
  send(data: string): void;
  /** resolves when `text` has arrived since the last call */
  waitFor(text: string, ms?: number): Promise<void>;
  /** forgets everything received so far */
  drain(): void;
  close(): void;
}

function pipeFrom(send: (s: string) => void, onData: (cb: (b: Buffer) => void) => void, close: () => void): Pipe {
  let seen = "";
  let wake: (() => void) | null = null;
  onData((b) => {
    seen += b.toString("latin1");
    if (seen.length > 65536) seen = seen.slice(-4096);
    wake?.();
  });
  return {
    send,
    close,
    drain: () => {
      seen = "";
    },
    async waitFor(text, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const i = seen.indexOf(text);
        if (i >= 0) {
          seen = seen.slice(i + text.length);
          return;
        }
        if (Date.now() > end) throw new Error(`no ${JSON.stringify(text)} from the guest within ${ms} ms`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
        wake = null;
      }
    },
  };
}

function wsPipe(ws: WebSocket): Pipe {
  return pipeFrom(
    (s) => ws.sendBinary(Buffer.from(s, "latin1")),
    (cb) => ws.on("binary", cb),
    () => ws.terminate(),
  );
}

async function unixPipe(socketPath: string): Promise<Pipe> {
  const s = net.createConnection(socketPath);
  await new Promise<void>((ok, fail) => {
    s.once("connect", ok);
    s.once("error", fail);
  });
  s.setNoDelay(true);
  return pipeFrom(
    (d) => s.write(d, "latin1"),
    (cb) => s.on("data", cb),
    () => s.destroy(),
  );
}

/** KEYS round trips: type a letter, wait for its echo; the line is cleared (Ctrl-U) every 50 keys. */
async function roundTrips(p: Pipe): Promise<number[]> {
  // A fresh answer proves the shell reads this console; the agent paths start with scrollback,
  // so the answer is unique per run and everything before it is dropped.
  const n = 1000 + Math.floor(Math.random() * 8000);
  p.send(`\x15echo bench-ready-$((${n}+1))\n`);
  await p.waitFor(`bench-ready-${n + 1}`, 30_000);
  await sleep(300);
  p.drain();
  const out: number[] = [];
  const letters = "abcdefghijklmnopqrstuvwxyz";
  for (let i = 0; i < KEYS; i++) {
    if (i % 50 === 0) {
      p.send("\x15");
      await sleep(50);
      p.drain();
    }
    // a marker the guest cannot have printed already: two letters typed as one burst would
    // echo together, so one letter at a time, each a different one from the previous
    const ch = letters[i % letters.length]!;
    const t = performance.now();
    p.send(ch);
    await p.waitFor(ch);
    out.push(performance.now() - t);
  }
  p.send("\x15");
  return out;
}

export async function benchConsole(): Promise<void> {
  const base = process.env.POLYARCH_FIXTURES_DIR ?? path.join(ROOT, ".cache/fixtures");
  const fxDir = path.join(base, "x86_64");
  const qemu = which("qemu-system-x86_64");
  if (!qemu || !fs.existsSync(path.join(fxDir, "manifest.json"))) {
    console.log("\nconsole bench skipped: needs qemu-system-x86_64 and the x86_64 boot fixture (npm run fixtures)");
    return;
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(fxDir, "manifest.json"), "utf8")) as {
    kernel: string;
    initrd: string;
    marker: string;
    cmdline: string;
  };
  // TCG by default, like the agent tests (nested KVM is often unusable in CI); BENCH_CONSOLE_KVM=1 tries KVM.
  const kvm = process.env.BENCH_CONSOLE_KVM === "1" && os.machine() === "x86_64";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-bench-con-"));
  const id = "bench-con";
  const mgr = new VmManager({
    stateDir: dir,
    hostArch: os.machine() === "aarch64" ? "aarch64" : "x86_64",
    kvm,
    qemuBinaries: { x86_64: qemu },
    firmware: {},
    resolveImage: async () => ({
      kernel: path.join(fxDir, manifest.kernel),
      initrd: path.join(fxDir, manifest.initrd),
    }),
    stopTimeoutMs: 5_000,
  });
  const token = deriveHostToken(SECRET, HOST_ID, 0);
  const tokens = new TokenVerifier();
  tokens.set(token);
  const agent = createAgentServer({
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
  const proxy = createConsoleProxy({ getSecret: () => SECRET, nonces: new NonceStore() });
  const proxyServer = http.createServer((_q, res) => res.writeHead(404).end());
  proxyServer.on("upgrade", (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  const rows: (string | number)[][] = [];
  try {
    await mgr.init();
    const agentUrl = `http://127.0.0.1:${(await listen(agent, "127.0.0.1", 0)).port}`;
    await new Promise<void>((r) => proxyServer.listen(0, "127.0.0.1", r));
    const proxyUrl = `ws://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;
    const res = await mgr.apply(id, {
      name: "bench-con",
      arch: "x86_64",
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      boot: { type: "kernel", imageId: "fx", cmdline: manifest.cmdline },
      powerState: "running",
    });
    const serialLog = path.join(dir, "vms", id, "serial.log");
    const end = Date.now() + 120_000;
    while (!(fs.existsSync(serialLog) && fs.readFileSync(serialLog, "utf8").includes(manifest.marker))) {
      if (Date.now() > end) throw new Error("the guest did not boot within 120 s");
      await sleep(100);
    }
    const paths = await mgr.consolePaths(id);
    const measure = async (label: string, open: () => Promise<Pipe>) => {
      const p = await open();
      try {
        const ms = await roundTrips(p);
        rows.push([label, ms.length, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), Math.max(...ms)]);
      } finally {
        p.close();
        await sleep(300); // the agent's hub lets go of the serial socket once its last viewer is gone
      }
    };
    await measure("direct: serial unix socket", () => unixPipe(paths.serialSocket));
    await measure("agent WebSocket (host token)", async () =>
      wsPipe(
        await connectWebSocket(`${agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, {
          authorization: `Bearer ${token}`,
        }),
      ),
    );
    await measure("controller proxy (ticket) → agent", async () => {
      const { ticket } = signConsoleTicket(SECRET, {
        vmId: id,
        userId: "bench",
        write: true,
        agentUrl,
        hostId: HOST_ID,
        gen: 0,
      });
      return wsPipe(
        await connectWebSocket(`${proxyUrl}/api/v1/vms/${id}/console?ticket=${encodeURIComponent(ticket)}`),
      );
    });
    printTable(
      `Serial console keystroke → echo round trip (ms), x86_64 guest, ${res.status.accel === "kvm" ? "KVM" : "TCG"}, ${KEYS} keys per path`,
      ["path", "keys", "p50", "p95", "p99", "max"],
      rows,
    );
  } finally {
    proxy.closeAll();
    proxyServer.closeAllConnections();
    await new Promise((r) => proxyServer.close(r));
    await closeServer(agent, 1_000).catch(() => {});
    await mgr.action(id, "poweroff").catch(() => {});
    await mgr.close().catch(() => {});
    for (const p of fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      try {
        if (fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes(dir)) process.kill(Number(p), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
