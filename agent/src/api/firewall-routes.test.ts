// The agent's firewall route on the real agent HTTP server: token, ids and body are checked before the
// network is touched (the network here records calls; the flows themselves: network/firewall.int.test.ts).
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import type { PortFirewall } from "../../../lib/schemas/security-groups";
import { emptyAgentBackend } from "../testing/support";
import { TokenVerifier } from "./auth";
import { closeServer, createAgentServer, listen } from "./server";

const TOKEN = "agent-fw-token-0123456789";
const facts = () => ({ arch: "x86_64", diskGb: 10 }) as unknown as HostFacts;

describe("agent API: PUT|DELETE /v1/vms/:id/nics/:nicId/firewall", () => {
  let server: http.Server;
  let base = "";
  const calls: Array<{ vmId: string; nicId: string; fw: PortFirewall | null }> = [];

  beforeAll(async () => {
    const auth = new TokenVerifier();
    auth.set(TOKEN);
    const { usage, vms } = emptyAgentBackend();
    server = createAgentServer({
      facts,
      usage,
      auth,
      vms: {
        ...vms,
        get: async (id: string) => {
          if (id !== "vm-1") throw Object.assign(new Error(`VM ${id} is not on this host`), { code: "not_found" });
          return { id } as never;
        },
      },
      firewall: {
        applyFirewall: async (vmId, nicId, fw) => {
          calls.push({ vmId, nicId, fw });
          return { port: "pa0000", flows: fw ? 6 + fw.rules.length : 0 };
        },
      },
    }) as http.Server;
    base = `http://127.0.0.1:${(await listen(server, "127.0.0.1", 0)).port}/v1/vms`;
  });
  afterAll(async () => closeServer(server));

  const call = (method: string, path: string, body?: unknown, token: string | null = TOKEN) =>
    fetch(`${base}/${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const fw: PortFirewall = {
    rules: [{ direction: "in", protocol: "tcp", portMin: 22, portMax: 22, remoteCidrs: ["10.0.0.0/8"] }],
  };

  it("applies a valid firewall and removes it", async () => {
    const put = await call("PUT", "vm-1/nics/nic0/firewall", fw);
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ vmId: "vm-1", nicId: "nic0", flows: 7, rules: 1 });
    const del = await call("DELETE", "vm-1/nics/nic0/firewall");
    expect(del.status).toBe(200);
    expect(calls).toEqual([
      { vmId: "vm-1", nicId: "nic0", fw },
      { vmId: "vm-1", nicId: "nic0", fw: null },
    ]);
  });

  it("refuses without the token, with bad ids or bodies, for a VM not on this host — touching nothing", async () => {
    const before = calls.length;
    expect((await call("PUT", "vm-1/nics/nic0/firewall", fw, null)).status).toBe(401);
    expect((await call("PUT", "vm-1/nics/nic0/firewall", fw, "wrong-token")).status).toBe(401);
    expect((await call("PUT", "vm-1/nics/..%2f/firewall", fw)).status).toBe(400);
    const bad = await call("PUT", "vm-1/nics/nic0/firewall", {
      rules: [{ ...fw.rules[0], remoteCidrs: ["10.0.0.1/8"] }],
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/host bits/);
    const inject = { rules: [{ direction: "in", protocol: "tcp,actions=NORMAL", remoteCidrs: [] }] };
    expect((await call("PUT", "vm-1/nics/nic0/firewall", inject)).status).toBe(400);
    expect((await call("PUT", "vm-1/nics/nic0/firewall", { rules: [{ ...fw.rules[0], portMin: 80 }] })).status).toBe(
      400,
    );
    expect((await call("PUT", "vm-9/nics/nic0/firewall", fw)).status).toBe(404);
    expect((await call("POST", "vm-1/nics/nic0/firewall", fw)).status).toBe(405);
    expect(calls.length).toBe(before);
  });
});
