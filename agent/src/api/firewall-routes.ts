// The agent API's security-group route (issue 18, ADR 052): PUT /v1/vms/:id/nics/:nicId/firewall with a
// PortFirewall replaces the NIC port's firewall live; DELETE removes it (the port is unfiltered again).
// server.ts authenticates and validates the VM id first; the VM must be on this host.
import type http from "node:http";
import { portFirewallSchema, type PortFirewall } from "../../../lib/schemas/security-groups";
import { safeIdSchema } from "../../../lib/schemas/agent-api";
import { HttpError } from "./body";

/** What the route needs from the network (OvsNetwork satisfies it). */
export interface FirewallBackend {
  applyFirewall(vmId: string, nicId: string, fw: PortFirewall | null): Promise<{ port: string; flows: number }>;
}

export interface FirewallRouteDeps {
  firewall: FirewallBackend | undefined;
  /** throws not_found when the VM is not on this host */
  vmExists(id: string): Promise<unknown>;
  readJson(req: http.IncomingMessage): Promise<unknown>;
  send(res: http.ServerResponse, status: number, body: unknown): void;
}

export async function handleFirewallRoute(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  vmId: string,
  rawNic: string,
  deps: FirewallRouteDeps,
): Promise<void> {
  const nic = safeIdSchema.safeParse(rawNic);
  if (!nic.success) throw new HttpError(400, "invalid", `invalid NIC id "${rawNic.slice(0, 80)}"`);
  let fw: PortFirewall | null = null;
  if (req.method === "PUT") {
    const parsed = portFirewallSchema.safeParse(await deps.readJson(req));
    if (!parsed.success) {
      const why = parsed.error.issues
        .slice(0, 5)
        .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
        .join("; ");
      throw new HttpError(400, "invalid", `invalid firewall: ${why}`);
    }
    fw = parsed.data;
  }
  if (!deps.firewall) throw new HttpError(404, "not_found", "this agent has no OVS network: no firewall to set");
  await deps.vmExists(vmId);
  const result = await deps.firewall.applyFirewall(vmId, nic.data, fw);
  deps.send(res, 200, {
    vmId,
    nicId: nic.data,
    port: result.port,
    flows: result.flows,
    rules: fw?.rules.length ?? null,
  });
}
