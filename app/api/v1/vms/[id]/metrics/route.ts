import { apiRoute } from "@/lib/server/web";
import { parseQuery } from "@/lib/server/platform";
import { vmMetrics } from "@/lib/server/insights";
import { metricsQuerySchema } from "@/lib/schemas/metrics";
import { requireVmAccess } from "@/lib/server/vms";

// CPU / memory history of a VM's QEMU process (?minutes=1..60, default 15), oldest sample first.
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.metrics", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    // Only for a VM of the caller's projects (404 otherwise), see lib/server/vms/access.ts.
    await requireVmAccess(actor, params.id, "read", { action: "vm.metrics", clientIp });
    return vmMetrics(params.id, parseQuery(req, metricsQuerySchema).minutes);
  },
);
