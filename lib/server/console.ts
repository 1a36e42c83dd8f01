import "server-only";
// Console tickets: who may open which VM's serial console, for 30 s, once. The ticket carries the
// agent address and token generation (signed), so scripts/server.mjs needs no database.
import { signConsoleTicket } from "../../scripts/console-ticket.mjs";
import { AppError } from "../errors";
import { can } from "../permissions";
import type { ConsoleTicketResponse } from "../schemas/console";
import { recordAudit } from "./audit";
import { db } from "./db";
import { env } from "./env";
import type { Actor } from "./guard";

export async function issueConsoleTicket(vmId: string, actor: Actor, wantWrite: boolean, clientIp: string | null): Promise<ConsoleTicketResponse> {
  const vm = await db().vm.findUnique({ where: { id: vmId }, select: { id: true, name: true, host: { select: { id: true, name: true, agentUrl: true, tokenGeneration: true, status: true } } } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  const host = vm.host;
  if (!host) throw new AppError({ code: "conflict", message: `VM ${vm.name} is not placed on a host yet, so it has no console.` });
  if (!host.agentUrl) throw new AppError({ code: "unavailable", message: `Host ${host.name} has no agent address yet.` });
  // Viewers get a read-only ticket rather than an error: watching is a read permission.
  const write = wantWrite && can(actor.role, "console:write");
  const { ticket, claims } = signConsoleTicket(env().secret, { vmId: vm.id, userId: actor.id, write, agentUrl: host.agentUrl, hostId: host.id, gen: host.tokenGeneration });
  await recordAudit({ actor, action: "vm.console", result: "success", targetType: "vm", targetId: vm.id, clientIp, details: { write, host: host.name } });
  return { ticket, url: `/api/v1/vms/${encodeURIComponent(vm.id)}/console?ticket=${encodeURIComponent(ticket)}`, write, expiresAt: new Date(claims.exp).toISOString() };
}
