import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { migrateRequestSchema } from "@/lib/schemas/migration";
import { startMigration } from "@/lib/server/mobility";

// {hostId?, live?}: moving VMs between hosts is the cloud operator's call (host:manage). 202 with
// the task to follow; the move runs after the response.
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "vm.migrate", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, migrateRequestSchema);
    const started = await startMigration(params.id, input, { actor, clientIp });
    return Response.json({ task: { id: started.taskId } }, { status: 202 });
  },
);
