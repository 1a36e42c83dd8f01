import { apiRoute } from "@/lib/server/web";
import { listTasksForHost } from "@/lib/server/vms";

// The host's own tasks (evacuation: one step per VM with its outcome). host:manage, because the
// steps name VMs of every project.
export const GET = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.tasks", targetType: "host" },
  async ({ params }) => ({ items: await listTasksForHost(params.id) }),
);
