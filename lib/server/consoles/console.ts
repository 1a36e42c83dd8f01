import "server-only";
// Console tickets: who may open which VM's serial or graphical (VNC) console, for 30 s, once. The
// ticket carries the agent address and token generation (signed); its single use is a database
// row (tickets.ts) shared by every controller.
import { signConsoleTicket } from "../../console-ticket";
import { AppError } from "../../errors";
import type { ConsoleKind, ConsoleTicketResponse } from "../../schemas/console";
import { effectiveDisplay, hasDisplay } from "../../display";
import type { Arch } from "../../arch";
import { recordConsoleTicket } from "./tickets";
import { mayWriteConsole } from "./revocation";
import { recordAudit } from "../platform";
import { db } from "../platform";
import { env } from "../platform";
import type { Actor } from "../platform";
import { requireVmAccess } from "../vms";

export const NO_DISPLAY_MESSAGE = "This VM has no graphical display — use the serial console.";

export async function issueConsoleTicket(
  vmId: string,
  actor: Actor,
  wantWrite: boolean,
  clientIp: string | null,
  kind: ConsoleKind = "serial",
): Promise<ConsoleTicketResponse> {
  // Only for a VM of the actor's projects (404 otherwise, like a VM that does not exist).
  await requireVmAccess(actor, vmId, "read", { action: "vm.console", clientIp });
  const vm = await db().vm.findUnique({
    where: { id: vmId },
    select: {
      id: true,
      name: true,
      arch: true,
      display: true,
      image: { select: { format: true } },
      host: { select: { id: true, name: true, agentUrl: true, tokenGeneration: true, status: true } },
    },
  });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  const host = vm.host;
  if (!host)
    throw new AppError({
      code: "conflict",
      message: `VM ${vm.name} is not placed on a host yet, so it has no console.`,
    });
  if (!host.agentUrl)
    throw new AppError({ code: "unavailable", message: `Host ${host.name} has no agent address yet.` });
  // Viewers get a read-only ticket rather than an error: watching is a read permission.
  const write = wantWrite && mayWriteConsole(actor.role);
  if (kind === "vnc" && !hasDisplay(effectiveDisplay(vm.arch as Arch, vm.display, vm.image)))
    throw new AppError({ code: "conflict", message: NO_DISPLAY_MESSAGE });
  const { ticket, claims } = signConsoleTicket(env().secret, {
    vmId: vm.id,
    userId: actor.id,
    write,
    kind,
    agentUrl: host.agentUrl,
    hostId: host.id,
    gen: host.tokenGeneration,
  });
  await recordConsoleTicket(ticket, { userId: actor.id, vmId: vm.id, kind, write, expiresAt: new Date(claims.exp) });
  await recordAudit({
    actor,
    action: "vm.console",
    result: "success",
    targetType: "vm",
    targetId: vm.id,
    clientIp,
    details: { write, kind, host: host.name },
  });
  const path = kind === "vnc" ? "vnc" : "console";
  return {
    ticket,
    url: `/api/v1/vms/${encodeURIComponent(vm.id)}/${path}?ticket=${encodeURIComponent(ticket)}`,
    write,
    kind,
    expiresAt: new Date(claims.exp).toISOString(),
  };
}
