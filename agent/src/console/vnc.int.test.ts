// Graphical console through the agent: the VNC WebSocket endpoint against a stand-in RFB server
// (what reaches QEMU from writers and from read-only viewers) and against a real x86_64 guest
// with std VGA under TCG (a framebuffer with real pixels arrives, directly and through the
// controller's proxy with a ticket).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import { FrameDecoder, OPCODE } from "../../../lib/ws-frames";
import { signConsoleTicket } from "../../../lib/console-ticket";
import { deriveHostToken } from "../../../lib/host-token";
import { closeServer, createAgentServer, listen, TokenVerifier, type VmBackend } from "../api";
import { GuestConsoleRig, guestSkipReason, kernelFixture, refused } from "../testing/console-rig";
import { until } from "../testing/support";
import { grabFramebuffer, sendKeys, SYSRQ_ANSWER, SYSRQ_H } from "../testing/vnc-client";
import { connectWebSocket, type WebSocket } from "./ws";
const SECRET = "vnc-test-secret-0123456789abcdef0123";
const HOST_ID = "h-vnc";
const TOKEN = deriveHostToken(SECRET, HOST_ID, 0);
const auth = { authorization: `Bearer ${TOKEN}` };
/** more than the VNC endpoint's 32 MiB slow-peer cap */
const BULK_BYTES = 48 * 1024 * 1024;
const BULK_CHUNK = 256 * 1024;

describe("VNC endpoint against a stand-in RFB server", () => {
  let dir = "";
  let agent: http.Server;
  let agentWs = "";
  let fake: net.Server;
  let bulk: net.Server;
  /** how much of BULK_BYTES the stand-in has handed to its socket, and that socket */
  const bulkState = { written: 0, sock: null as net.Socket | null };
  const received: Buffer[] = [];
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pa-vnc-"));
    const vncSocket = path.join(dir, "vnc.sock");
    fake = net.createServer((c) => {
      c.write("RFB 003.008\n");
      c.on("data", (d) => received.push(d));
    });
    await new Promise<void>((r) => fake.listen(vncSocket, r));
    // A display that sends more than the endpoint's 32 MiB slow-peer cap, as fast as it may.
    bulk = net.createServer((c) => {
      bulkState.sock = c;
      const chunk = Buffer.alloc(BULK_CHUNK, 0x5a);
      const pump = () => {
        while (bulkState.written < BULK_BYTES) {
          bulkState.written += chunk.length;
          if (!c.write(chunk)) return void c.once("drain", pump);
        }
      };
      pump();
    });
    await new Promise<void>((r) => bulk.listen(path.join(dir, "bulk.sock"), r));
    const paths: Record<string, { serialSocket: string; serialLog: string; vncSocket: string | null }> = {
      gfx: { serialSocket: path.join(dir, "s.sock"), serialLog: path.join(dir, "s.log"), vncSocket },
      headless: { serialSocket: path.join(dir, "s.sock"), serialLog: path.join(dir, "s.log"), vncSocket: null },
      stopped: {
        serialSocket: path.join(dir, "s.sock"),
        serialLog: path.join(dir, "s.log"),
        vncSocket: path.join(dir, "gone.sock"),
      },
      bulk: {
        serialSocket: path.join(dir, "s.sock"),
        serialLog: path.join(dir, "s.log"),
        vncSocket: path.join(dir, "bulk.sock"),
      },
    };
    const vms: VmBackend = {
      list: async () => [],
      get: async () => {
        throw new Error("unused");
      },
      apply: async () => {
        throw new Error("unused");
      },
      action: async () => {
        throw new Error("unused");
      },
      delete: async () => ({}),
      consolePaths: async (id) => {
        const p = paths[id];
        if (!p) throw Object.assign(new Error(`VM ${id} not found`), { code: "not_found" });
        return p;
      },
    };
    const tokens = new TokenVerifier();
    tokens.set(TOKEN);
    agent = createAgentServer({ facts: () => ({}) as HostFacts, usage: async () => ({}) as never, vms, auth: tokens });
    agentWs = `ws://127.0.0.1:${(await listen(agent, "127.0.0.1", 0)).port}`;
  });

  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    if (agent) await closeServer(agent, 1_000);
    await new Promise((r) => fake?.close(r));
    bulkState.sock?.destroy();
    await new Promise((r) => bulk?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (url: string, headers = auth) => {
    const ws = await connectWebSocket(url, headers);
    sockets.push(ws);
    return ws;
  };

  it("needs the host token; 404 unknown VM; 409 without a display; 426 without an upgrade; 1013 when QEMU is not listening", async () => {
    expect(await refused(open(`${agentWs}/v1/vms/gfx/vnc`, {} as typeof auth))).toBe(401);
    expect(await refused(open(`${agentWs}/v1/vms/nope/vnc`))).toBe(404);
    expect(await refused(open(`${agentWs}/v1/vms/headless/vnc`))).toBe(409);
    expect(await refused(open(`${agentWs}/v1/vms/gfx/vnc?write=maybe`))).toBe(400);
    expect((await fetch(`${agentWs.replace("ws", "http")}/v1/vms/gfx/vnc`, { headers: auth })).status).toBe(426);
    const ws = await open(`${agentWs}/v1/vms/stopped/vnc`);
    let code: number | null = null;
    ws.on("close", (c) => (code = c));
    await until(() => code !== null, "close");
    expect(code).toBe(1013);
  });

  const key = Buffer.from([4, 1, 0, 0, 0, 0, 0, 0x61]);
  const fbRequest = Buffer.from([3, 1, 0, 0, 0, 0, 2, 128, 1, 224]);

  it("a writer's RFB stream reaches QEMU unchanged", async () => {
    received.length = 0;
    const ws = await open(`${agentWs}/v1/vms/gfx/vnc`);
    let hello = "";
    ws.on("binary", (b) => (hello += b.toString("latin1")));
    await until(() => hello === "RFB 003.008\n", "server version");
    ws.sendBinary(Buffer.from("RFB 003.008\n"));
    ws.sendBinary(Buffer.from([1, 0]));
    ws.sendBinary(Buffer.concat([key, fbRequest]));
    const want = Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1, 0]), key, fbRequest]);
    await until(() => Buffer.concat(received).length >= want.length, "bytes at the server");
    expect(Buffer.concat(received)).toEqual(want);
  });

  it("a read-only viewer's keys and pointer never reach QEMU; bad RFB closes it (1008)", async () => {
    received.length = 0;
    const ws = await open(`${agentWs}/v1/vms/gfx/vnc?write=0`);
    let closed: number | null = null;
    ws.on("close", (c) => (closed = c));
    ws.sendBinary(Buffer.from("RFB 003.008\n"));
    ws.sendBinary(Buffer.from([1, 0])); // security None, ClientInit asking for exclusive access
    ws.sendBinary(
      Buffer.concat([
        key,
        Buffer.from([5, 1, 0, 10, 0, 20]),
        fbRequest,
        Buffer.from([6, 0, 0, 0, 0, 0, 0, 2, 104, 105]),
      ]),
    );
    const want = Buffer.concat([Buffer.from("RFB 003.008\n"), Buffer.from([1, 1]), fbRequest]);
    await until(() => Buffer.concat(received).length >= want.length, "bytes at the server");
    await new Promise((r) => setTimeout(r, 200));
    expect(Buffer.concat(received)).toEqual(want);
    ws.sendBinary(Buffer.from([99]));
    await until(() => closed !== null, "closed");
    expect(closed).toBe(1008);
  });

  it("a browser that stops reading pauses the display instead of queueing it; everything arrives once it reads again", async () => {
    // Raw client: a WebSocket library would keep reading. Frames are decoded from lib/ws-frames.
    const sock = net.connect(Number(new URL(agentWs).port), "127.0.0.1");
    await new Promise((r) => sock.once("connect", r));
    const key = Buffer.from("0123456789abcdef").toString("base64");
    sock.write(
      `GET /v1/vms/bulk/vnc HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.authorization}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    );
    let head = Buffer.alloc(0);
    const decoder = new FrameDecoder({ role: "client", maxPayload: 4 * 1024 * 1024 });
    let payload = 0;
    let closeCode: number | null = null;
    const onFrames = (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        if (f.opcode === OPCODE.binary || f.opcode === OPCODE.continuation) payload += f.payload.length;
        if (f.opcode === OPCODE.close) closeCode = Buffer.from(f.payload).readUInt16BE(0);
      }
    };
    sock.on("data", (c: Buffer) => {
      if (head.includes("\r\n\r\n")) return onFrames(c);
      head = Buffer.concat([head, c]);
      const end = head.indexOf("\r\n\r\n");
      if (end >= 0) onFrames(head.subarray(end + 4));
    });
    await until(() => head.includes("\r\n\r\n"), "101", 5_000);
    expect(head.toString()).toMatch(/^HTTP\/1.1 101/);
    sock.pause(); // the browser tab stops reading
    await new Promise((r) => setTimeout(r, 1_500));
    // The agent stopped reading the display: most of it is still waiting at the stand-in.
    expect(bulkState.written).toBeLessThan(BULK_BYTES / 2);
    sock.resume();
    await until(() => payload >= BULK_BYTES || closeCode !== null, "the whole display stream", 60_000);
    expect(closeCode).toBeNull(); // never "peer too slow" (1013)
    expect(payload).toBe(BULK_BYTES);
    sock.destroy();
  });
});

const fx = kernelFixture("x86_64");
const skip = guestSkipReason("x86_64", fx);

describe.skipIf(Boolean(skip))(`VNC of a real x86_64 guest with VGA (TCG)${skip ? ` — skipped: ${skip}` : ""}`, () => {
  const id = "vnc-x86";
  const rig = new GuestConsoleRig({
    arch: "x86_64",
    id,
    fixture: fx!,
    tmpPrefix: "pa-vncq-",
    secret: SECRET,
    token: TOKEN,
  });
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    await rig.start();
    const res = await rig.boot({ name: "vnc", display: "vga" });
    expect(res.status).toMatchObject({ powerState: "running", display: "vga" });
    await rig.booted();
  });

  afterAll(() => rig.stop(sockets));

  it("QEMU runs a VNC server on the VM's unix socket and the argv says VGA + force-shared", async () => {
    const argv = JSON.parse(readFileSync(path.join(rig.dir, "vms", id, "qemu.argv.json"), "utf8")) as
      string[] | { args: string[] };
    const args = Array.isArray(argv) ? argv : argv.args;
    expect(args.join(" ")).toMatch(/-vnc unix:\S+vnc\.sock,share=force-shared/);
    expect(args).toContain("VGA,id=video0");
    expect((await rig.mgr.consolePaths(id)).vncSocket).toMatch(/vnc\.sock$/);
  });

  it("the agent's endpoint delivers a real framebuffer (non-zero size, more than one colour)", async () => {
    const ws = await connectWebSocket(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/vnc`, auth);
    sockets.push(ws);
    const fb = await grabFramebuffer(ws);
    expect(fb.width).toBeGreaterThan(0);
    expect(fb.height).toBeGreaterThan(0);
    expect(fb.name).toContain("vnc"); // QEMU names the desktop "QEMU (<guest name>)"
    expect(fb.colours).toBeGreaterThan(1);
  });

  it("keys reach the guest from a writer (Alt+SysRq+H prints on the serial console), never from a read-only viewer", async () => {
    // one SysRq makes the kernel print one "sysrq: HELP ..." (or "...disabled") line, whatever the loglevel
    const presses = () => readFileSync(rig.serialLog, "utf8").match(SYSRQ_ANSWER)?.length ?? 0;
    const before = presses();
    const viewer = await connectWebSocket(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/vnc?write=0`, auth);
    sockets.push(viewer);
    await grabFramebuffer(viewer);
    sendKeys(viewer, SYSRQ_H);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(presses()).toBe(before);
    const writer = await connectWebSocket(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/vnc`, auth);
    sockets.push(writer);
    await grabFramebuffer(writer);
    sendKeys(writer, SYSRQ_H);
    await until(() => presses() > before, "sysrq on the serial console", 20_000);
    // the viewer's keys went first: had any got through, there would be two presses by now
    await new Promise((r) => setTimeout(r, 500));
    expect(presses()).toBe(before + 1);
  });

  it("through the controller's proxy with a read-only VNC ticket: the picture arrives; a serial ticket does not open it", async () => {
    const ticket = (kind: "serial" | "vnc") =>
      signConsoleTicket(SECRET, {
        vmId: id,
        userId: "u-1",
        write: false,
        kind,
        agentUrl: rig.agentUrl,
        hostId: HOST_ID,
        gen: 0,
      }).ticket;
    expect(
      await refused(
        connectWebSocket(`${rig.proxyUrl}/api/v1/vms/${id}/vnc?ticket=${encodeURIComponent(ticket("serial"))}`),
      ),
    ).toBe(403);
    const ws = await connectWebSocket(
      `${rig.proxyUrl}/api/v1/vms/${id}/vnc?ticket=${encodeURIComponent(ticket("vnc"))}`,
    );
    sockets.push(ws);
    const fb = await grabFramebuffer(ws);
    expect(fb.colours).toBeGreaterThan(1);
  });
});
