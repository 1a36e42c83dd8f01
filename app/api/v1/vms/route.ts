import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson } from "@/lib/server/platform";
import { vmListQuery } from "@/lib/schemas/entities";
import { createVmSchema } from "@/lib/schemas/vms";
import { listVms } from "@/lib/server/vms";
import { createVm } from "@/lib/server/vms";
import { toJsonSafe } from "@/lib/server/platform";

// Only the VMs of the caller's projects (admins: all), see lib/server/vms/access.ts.
export const GET = apiRoute({ permission: "read", action: "vm.list" }, ({ req, actor }) =>
  listVms(parseQuery(req, vmListQuery), actor),
);

// 202: the VM is placed and recorded; the host finishes creating it (follow the task).
export const POST = apiRoute(
  { permission: "vm:create", action: "vm.create", targetType: "vm" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createVmSchema);
    return Response.json(toJsonSafe(await createVm(input, { actor, clientIp })), { status: 202 });
  },
);
