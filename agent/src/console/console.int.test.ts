// Serial console over the agent's WebSocket endpoint: against a stand-in serial socket (what QEMU's
// chardev does, no QEMU needed), and end to end with real kernel-boot guests (TCG) behind the agent
// and the controller's proxy (server/console-proxy.ts) with real tickets.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import { signConsoleTicket } from "../../../lib/console-ticket";
import { deriveHostToken } from "../../../lib/host-token";
import { closeServer, createAgentServer, listen, TokenVerifier, type VmBackend } from "../api";
import { collect, guestSkipReason, GuestConsoleRig, kernelFixture, refused } from "../testing/console-rig";
import { until } from "../testing/support";
import { readTail } from "./console";
import { connectWebSocket, type WebSocket } from "./ws";

const SECRET = "console-test-secret-0123456789abcdef";
const HOST_ID = "h-console";
const TOKEN = deriveHostToken(SECRET, HOST_ID, 0);

describe("serial console endpoint against a stand-in serial socket", () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  let dir = "";
  let agent: http.Server;
  let agentWs = "";
  let serial: net.Server;
  /** the agent's connection to the stand-in chardev (QEMU serves one client at a time) */
  const chardev: net.Socket[] = [];
  const input: Buffer[] = [];
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pa-serial-"));
    writeFileSync(path.join(dir, "serial.log"), "boot log line 1\nSCROLLBACK-MARK\n");
    serial = net.createServer((c) => {
      chardev.push(c);
      c.on("data", (d) => input.push(d));
    });
    await new Promise<void>((r) => serial.listen(path.join(dir, "serial.sock"), r));
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
        if (id === "vm1")
          return { serialSocket: path.join(dir, "serial.sock"), serialLog: path.join(dir, "serial.log") };
        if (id === "stopped")
          return { serialSocket: path.join(dir, "gone.sock"), serialLog: path.join(dir, "serial.log") };
        throw Object.assign(new Error(`VM ${id} not found`), { code: "not_found" });
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
    await new Promise((r) => serial?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (url: string, headers: Record<string, string> = auth) => {
    const ws = await connectWebSocket(url, headers);
    sockets.push(ws);
    return ws;
  };

  it("needs the host token; 404 unknown VM; 400 bad query; 426 without an upgrade; 1013 when nothing listens", async () => {
    expect(await refused(open(`${agentWs}/v1/vms/vm1/console`, {}))).toBe(401);
    expect(await refused(open(`${agentWs}/v1/vms/vm1/console`, { authorization: "Bearer wrong" }))).toBe(401);
    expect(await refused(open(`${agentWs}/v1/vms/nope/console`))).toBe(404);
    expect(await refused(open(`${agentWs}/v1/vms/vm1/console?write=yes`))).toBe(400);
    expect((await fetch(`${agentWs.replace("ws", "http")}/v1/vms/vm1/console`, { headers: auth })).status).toBe(426);
    const c = collect(await open(`${agentWs}/v1/vms/stopped/console`));
    await until(() => c.closed !== null, "closed with try-again", 5_000);
    expect(c.closed).toBe(1013);
    expect(c.text).toContain("SCROLLBACK-MARK"); // the log is all there is
  });

  it("scrollback, then live output to every viewer over one chardev connection; only a writer's input reaches it", async () => {
    input.length = 0;
    const rwWs = await open(`${agentWs}/v1/vms/vm1/console`);
    const rw = collect(rwWs);
    const roWs = await open(`${agentWs}/v1/vms/vm1/console?write=0`);
    const ro = collect(roWs);
    await until(() => rw.text.includes("SCROLLBACK-MARK") && ro.text.includes("SCROLLBACK-MARK"), "scrollback", 5_000);
    expect(chardev.filter((c) => !c.destroyed)).toHaveLength(1);
    chardev.at(-1)!.write("live output €\n");
    await until(
      () => rw.text.includes("live output €") && ro.text.includes("live output €"),
      "live output on both",
      5_000,
    );
    roWs.sendText("ro-typed\n");
    roWs.sendBinary(Buffer.from("ro-binary\n"));
    rwWs.sendText("rw-typed\n");
    rwWs.sendBinary(Buffer.from("rw-binary\n"));
    await until(() => Buffer.concat(input).toString().includes("rw-binary"), "writer input at the chardev", 5_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(Buffer.concat(input).toString()).toBe("rw-typed\nrw-binary\n");
  });

  it("an input message over 64 KiB closes that viewer with 1009", async () => {
    const ws = await open(`${agentWs}/v1/vms/vm1/console`);
    const c = collect(ws);
    await until(() => c.text.includes("SCROLLBACK-MARK"), "scrollback", 5_000);
    ws.sendBinary(Buffer.alloc(65 * 1024, 0x61));
    await until(() => c.closed !== null, "closed", 5_000);
    expect(c.closed).toBe(1009);
  });

  it("the chardev going away (VM stopped) closes every viewer with 1001", async () => {
    const a = collect(await open(`${agentWs}/v1/vms/vm1/console`));
    const b = collect(await open(`${agentWs}/v1/vms/vm1/console?write=0`));
    await until(() => a.text.includes("SCROLLBACK-MARK") && b.text.includes("SCROLLBACK-MARK"), "scrollback", 5_000);
    for (const c of chardev) c.destroy();
    await until(() => a.closed !== null && b.closed !== null, "viewers closed", 5_000);
    expect([a.closed, b.closed]).toEqual([1001, 1001]);
  });
});

for (const arch of ["x86_64", "aarch64"] as const) {
  const fx = kernelFixture(arch);
  const skip = guestSkipReason(arch, fx);

  describe.skipIf(Boolean(skip))(
    `serial console over WebSocket, ${arch} guest under TCG${skip ? ` — skipped: ${skip}` : ""}`,
    () => {
      const id = `con-${arch.replace("_", "-")}`;
      const rig = new GuestConsoleRig({ arch, id, fixture: fx!, tmpPrefix: "pa-con-", secret: SECRET, token: TOKEN });
      const sockets: WebSocket[] = [];
      const open = async (url: string, headers: Record<string, string> = {}) => {
        const ws = await connectWebSocket(url, headers);
        sockets.push(ws);
        return ws;
      };
      const ticket = (over: Partial<{ vmId: string; write: boolean }> = {}, now?: number) =>
        signConsoleTicket(
          SECRET,
          { vmId: id, userId: "u-1", write: true, agentUrl: rig.agentUrl, hostId: HOST_ID, gen: 0, ...over },
          { now },
        ).ticket;

      beforeAll(async () => {
        await rig.start();
        const res = await rig.boot({ name: "con" });
        expect(res.status.powerState).toBe("running");
        await rig.booted();
      });

      afterAll(() => rig.stop(sockets));

      it("agent: refuses without the host token, for unknown VMs, and without an upgrade", async () => {
        expect(await refused(open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`))).toBe(401);
        expect(
          await refused(
            open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, { authorization: "Bearer wrong" }),
          ),
        ).toBe(401);
        expect(
          await refused(
            open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/nope/console`, { authorization: `Bearer ${TOKEN}` }),
          ),
        ).toBe(404);
        expect(
          await refused(
            open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console?write=yes`, {
              authorization: `Bearer ${TOKEN}`,
            }),
          ),
        ).toBe(400);
        const plain = await fetch(`${rig.agentUrl}/v1/vms/${id}/console`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        expect(plain.status).toBe(426);
      });

      it("agent: scrollback shows the boot marker; typed commands run; a read-only viewer's input is dropped", async () => {
        const auth = { authorization: `Bearer ${TOKEN}` };
        const rw = collect(await open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, auth));
        await until(() => rw.text.includes(fx!.marker), "scrollback");
        const roWs = await open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console?write=0`, auth);
        const ro = collect(roWs);
        await until(() => ro.text.includes(fx!.marker), "read-only scrollback");

        roWs.sendText("echo ro-$((5*5))\n");
        sockets[sockets.length - 2]!.sendText("echo hello-$((6*7))\n");
        await until(() => rw.text.includes("hello-42"), "hello-42 on the writer");
        await until(
          () => ro.text.includes("hello-42"),
          "hello-42 on the read-only viewer too (one serial connection, fanned out)",
        );
        await new Promise((r) => setTimeout(r, 1_500));
        expect(rw.text).not.toContain("ro-25");
        expect(rw.text).not.toContain("ro-$((5*5))");
      });

      it("proxy: a ticket opens the console once; stale, reused, forged and other-VM tickets are refused", async () => {
        const t = ticket();
        const url = (tk: string, vm = id) =>
          `${rig.proxyUrl}/api/v1/vms/${vm}/console?ticket=${encodeURIComponent(tk)}`;
        const c = collect(await open(url(t)));
        await until(() => c.text.includes(fx!.marker), "scrollback through the proxy");
        sockets.at(-1)!.sendText("echo via-proxy-$((40+2))\n");
        await until(() => c.text.includes("via-proxy-42"), "output through the proxy");

        expect(await refused(open(url(t)))).toBe(401); // reused
        expect(await refused(open(url(ticket({}, Date.now() - 31_000))))).toBe(401); // stale
        expect(await refused(open(url(ticket({ vmId: "other-vm" }))))).toBe(403); // signed for another VM
        const forged = signConsoleTicket("not-the-controller-secret-0123456789", {
          vmId: id,
          userId: "u-1",
          write: true,
          agentUrl: rig.agentUrl,
          hostId: HOST_ID,
          gen: 0,
        }).ticket;
        expect(await refused(open(url(forged)))).toBe(401);
        expect(await refused(open(`${rig.proxyUrl}/api/v1/vms/${id}/console`))).toBe(401); // no ticket
      });

      it("proxy: a read-only ticket drops input", async () => {
        const c = collect(
          await open(`${rig.proxyUrl}/api/v1/vms/${id}/console?ticket=${encodeURIComponent(ticket({ write: false }))}`),
        );
        await until(() => c.text.includes(fx!.marker), "scrollback");
        sockets.at(-1)!.sendText("echo ro-proxy-$((3*3))\n");
        await new Promise((r) => setTimeout(r, 1_500));
        expect(c.text).not.toContain("ro-proxy-9");
      });

      it("a stopped VM closes its viewers (1001) and a new viewer gets the scrollback, then 1013", async () => {
        const auth = { authorization: `Bearer ${TOKEN}` };
        const c = collect(await open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, auth));
        await until(() => c.text.includes(fx!.marker), "scrollback");
        await rig.mgr.action(id, "poweroff");
        await until(() => c.closed !== null, "viewer closed");
        expect(c.closed).toBe(1001);
        let power = "";
        await until(() => {
          void rig.mgr.get(id).then((st) => (power = st.powerState));
          return power === "shutoff";
        }, "VM shut off");
        const after = collect(await open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, auth));
        await until(() => after.closed !== null, "closed with try-again");
        expect(after.closed).toBe(1013);
        expect(after.text).toContain(fx!.marker);
      });
    },
  );
}

describe("readTail", () => {
  it("returns the last bytes from a character boundary, or nothing for a missing file", async () => {
    const d = mkdtempSync(path.join(os.tmpdir(), "pa-tail-"));
    try {
      const f = path.join(d, "log");
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
