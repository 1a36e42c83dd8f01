import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { captureRequestSchema } from "@/lib/schemas/snapshots";
import { captureVm } from "@/lib/server/snapshots";

// The new image, validated like an upload (201); the bytes stream from the VM's host.
export const POST = apiRoute<{ id: string }>(
  { permission: "vm:operate", action: "vm.capture", targetType: "vm" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, captureRequestSchema);
    return Response.json(toJsonSafe(await captureVm(params.id, input, { actor, clientIp })), { status: 201 });
  },
);
