import { apiRoute } from "@/lib/server/web";
import { listVmEvents, requireVmAccess } from "@/lib/server/vms";

// The VM's own event history (who did what to it, and how it ended), readable by every role
// that may read the VM (members of its project; admins); the full audit log stays admin-only.
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.events", targetType: "vm" },
  async ({ params, actor, clientIp }) => {
    await requireVmAccess(actor, params.id, "read", { action: "vm.events", clientIp });
    return { items: await listVmEvents(params.id) };
  },
);
