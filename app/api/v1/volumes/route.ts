import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson, toJsonSafe } from "@/lib/server/platform";
import { createVolumeSchema, volumeListQuery } from "@/lib/schemas/volumes";
import { createVolume, listVolumes } from "@/lib/server/volumes";

// Only the volumes of the caller's projects (admins: all), like VMs (lib/server/vms/access.ts).
export const GET = apiRoute({ permission: "read", action: "volume.list" }, ({ req, actor }) =>
  listVolumes(actor, parseQuery(req, volumeListQuery)),
);

// 201: made on its host (and attached, with vmId) or recorded unplaced; 409 when the host lacks the room.
export const POST = apiRoute(
  { permission: "vm:create", action: "volume.create", targetType: "volume" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createVolumeSchema);
    return Response.json(toJsonSafe(await createVolume(input, { actor, clientIp })), { status: 201 });
  },
);
