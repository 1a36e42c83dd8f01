import { apiRoute } from "@/lib/server/web";
import { revertSnapshot } from "@/lib/server/snapshots";

// No body: answers the VM as it is afterwards.
export const POST = apiRoute<{ id: string; sid: string }>(
  { permission: "vm:operate", action: "vm.snapshot.revert", targetType: "vm" },
  ({ params, actor, clientIp }) => revertSnapshot(params.id, params.sid, { actor, clientIp }),
);
