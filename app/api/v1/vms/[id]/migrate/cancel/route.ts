import { apiRoute } from "@/lib/server/web";
import { cancelMigration } from "@/lib/server/mobility";

// No body: asks the running migration to stop; the VM stays on its host (409 when none runs).
export const POST = apiRoute<{ id: string }>(
  { permission: "host:manage", action: "vm.migrate.cancel", targetType: "vm" },
  async ({ params, actor, clientIp }) => cancelMigration(params.id, { actor, clientIp }),
);
