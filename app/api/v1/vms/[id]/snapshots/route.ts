import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { createSnapshotSchema } from "@/lib/schemas/snapshots";
import { createSnapshot, listSnapshots } from "@/lib/server/snapshots";

// The VM's snapshots from the controller's record (viewers of its project read them).
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "vm.snapshot.list", targetType: "vm" },
  async ({ params, actor, clientIp }) => ({ items: await listSnapshots(params.id, actor, clientIp) }),
);

// Answers when the host has saved it (a memory snapshot under emulation takes tens of seconds).
export const POST = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.snapshot.create", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, createSnapshotSchema);
    return Response.json(toJsonSafe(await createSnapshot(params.id, input, { actor, clientIp })), { status: 201 });
  },
);
