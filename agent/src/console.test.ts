// Serial console end to end on this machine: a real x86_64 kernel-boot guest (TCG), the agent's
// console WebSocket, and the controller's proxy (scripts/console-proxy.mjs) with real tickets.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { hostTokenFor, signConsoleTicket } from "../../scripts/console-ticket.mjs";
import { readTail } from "./console";
import { collect, guestSkipReason, GuestConsoleRig, kernelFixture, refused } from "./testing/console-rig";
import { until } from "./testing/support";
import { connectWebSocket, type WebSocket } from "./ws";

const SECRET = "console-test-secret-0123456789abcdef";
const HOST_ID = "h-console";
const TOKEN = hostTokenFor(SECRET, HOST_ID, 0);

for (const arch of ["x86_64", "aarch64"] as const) {
const fx = kernelFixture(arch);
const skip = guestSkipReason(arch, fx);

describe.skipIf(Boolean(skip))(`serial console over WebSocket, ${arch} guest under TCG${skip ? ` — skipped: ${skip}` : ""}`, () => {
  const id = `con-${arch.replace("_", "-")}`;
  const rig = new GuestConsoleRig({ arch, id, fixture: fx!, tmpPrefix: "pa-con-", secret: SECRET, token: TOKEN });
  const sockets: WebSocket[] = [];
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const ws = await connectWebSocket(url, headers);
    sockets.push(ws);
    return ws;
  };
  const ticket = (over: Partial<{ vmId: string; write: boolean }> = {}, now?: number) =>
    signConsoleTicket(SECRET, { vmId: id, userId: "u-1", write: true, agentUrl: rig.agentUrl, hostId: HOST_ID, gen: 0, ...over }, { now }).ticket;

  beforeAll(async () => {
    await rig.start();
    const res = await rig.boot({ name: "con" });
    expect(res.status.powerState).toBe("running");
    await rig.booted();
  });

  afterAll(() => rig.stop(sockets));

  it("agent: refuses without the host token, for unknown VMs, and without an upgrade", async () => {
    expect(await refused(open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`))).toBe(401);
    expect(await refused(open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console`, { authorization: "Bearer wrong" }))).toBe(401);
    expect(await refused(open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/nope/console`, { authorization: `Bearer ${TOKEN}` }))).toBe(404);
    expect(await refused(open(`${rig.agentUrl.replace("http", "ws")}/v1/vms/${id}/console?write=yes`, { authorization: `Bearer ${TOKEN}` }))).toBe(400);
    const plain = await fetch(`${rig.agentUrl}/v1/vms/${id}/console`, { headers: { authorization: `Bearer ${TOKEN}` } });
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
    await until(() => ro.text.includes("hello-42"), "hello-42 on the read-only viewer too (one serial connection, fanned out)");
    await new Promise((r) => setTimeout(r, 1_500));
    expect(rw.text).not.toContain("ro-25");
    expect(rw.text).not.toContain("ro-$((5*5))");
  });

  it("proxy: a ticket opens the console once; stale, reused, forged and other-VM tickets are refused", async () => {
    const t = ticket();
    const url = (tk: string, vm = id) => `${rig.proxyUrl}/api/v1/vms/${vm}/console?ticket=${encodeURIComponent(tk)}`;
    const c = collect(await open(url(t)));
    await until(() => c.text.includes(fx!.marker), "scrollback through the proxy");
    sockets.at(-1)!.sendText("echo via-proxy-$((40+2))\n");
    await until(() => c.text.includes("via-proxy-42"), "output through the proxy");

    expect(await refused(open(url(t)))).toBe(401); // reused
    expect(await refused(open(url(ticket({}, Date.now() - 31_000))))).toBe(401); // stale
    expect(await refused(open(url(ticket({ vmId: "other-vm" }))))).toBe(403); // signed for another VM
    const forged = signConsoleTicket("not-the-controller-secret-0123456789", { vmId: id, userId: "u-1", write: true, agentUrl: rig.agentUrl, hostId: HOST_ID, gen: 0 }).ticket;
    expect(await refused(open(url(forged)))).toBe(401);
    expect(await refused(open(`${rig.proxyUrl}/api/v1/vms/${id}/console`))).toBe(401); // no ticket
  });

  it("proxy: a read-only ticket drops input", async () => {
    const c = collect(await open(`${rig.proxyUrl}/api/v1/vms/${id}/console?ticket=${encodeURIComponent(ticket({ write: false }))}`));
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
