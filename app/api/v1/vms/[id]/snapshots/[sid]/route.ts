import { apiRoute } from "@/lib/server/web";
import { deleteSnapshot } from "@/lib/server/snapshots";

export const DELETE = apiRoute<{ id: string; sid: string }>(
  { permission: "vm:operate", action: "vm.snapshot.delete", targetType: "vm" },
  ({ params, actor, clientIp }) => deleteSnapshot(params.id, params.sid, { actor, clientIp }),
);
