import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { enterMaintenance, exitMaintenance } from "@/lib/server/mobility";
import { maintenanceRequestSchema } from "@/lib/schemas/migration";

// Enter maintenance: nothing new is placed on the host; with evacuate (the default) its VMs move
// away one by one as a host.evacuate task (202 {task}); without, 200 {task: null, host}.
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.maintenance", targetType: "host" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, maintenanceRequestSchema);
    const out = await enterMaintenance(params.id, input, { actor, clientIp });
    return Response.json(toJsonSafe(out), { status: out.task ? 202 : 200 });
  },
);

// Exit maintenance: the host takes new VMs again.
export const DELETE = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "host.maintenance.exit", targetType: "host" },
  async ({ params, actor, clientIp }) => exitMaintenance(params.id, { actor, clientIp }),
);
