import { apiRoute } from "@/lib/server/web";
import { db } from "@/lib/server/platform";
import { requireVmAccess } from "@/lib/server/vms";

// The VM's own event history (who did what to it, and how it ended), readable by every role
// that may read the VM (members of its project; admins); the full audit log stays admin-only.
export const GET = apiRoute<{ id: string }>({ permission: "read", action: "vm.events", targetType: "vm" }, async ({ params, actor, clientIp }) => {
  await requireVmAccess(actor, params.id, "read", { action: "vm.events", clientIp });
  return {
    items: await db().auditEvent.findMany({
      where: { targetType: "vm", targetId: params.id },
      orderBy: { createdAt: "desc" },
      take: 50,
      select: { id: true, createdAt: true, userEmail: true, action: true, result: true, details: true },
    }),
  };
});
